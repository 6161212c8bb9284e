//! The migrations folder: `<version>_<name>.sql` files sqlx applies in version order (or, in a
//! reversible folder, sqlx's pairs `<version>_<name>.up.sql` / `.down.sql`, which
//! `sqlx migrate revert` undoes newest first), and the snapshot `.dbpat/schema.json` of the
//! models the files add up to.

use super::error::MigrateError;
use super::plan::{plan_from, Plan};
use super::render::{render_down_file, render_file};
pub use super::snapshot::SNAPSHOT_PATH;
use super::snapshot::{Bump, SchemaSnapshot};
use crate::model::TableDef;
use std::path::{Path, PathBuf};

/// What `migrate` did; `'a` is the models' lifetime.
#[derive(Debug)]
pub enum MigrationOutcome<'a> {
    /// The models match the folder: nothing written.
    NoChange,
    /// Files were written (in version order) and the snapshot updated.
    Written {
        /// The new migration files, in version order (a reversible pair: up, then down).
        files: Vec<PathBuf>,
        /// The plan they render.
        plan: Plan<'a>,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MigrateError + '_ {
    move |source| MigrateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// How [`write_migration`] writes a step.
///
/// ```
/// use dbpat_runtime::migrate::WriteOptions;
/// let options = WriteOptions { reversible: true, ..WriteOptions::default() };
/// assert!(!options.allow_destructive);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Also write changes that lose data (each is marked in the file).
    pub allow_destructive: bool,
    /// Write sqlx's reversible pairs (`.up.sql` / `.down.sql`). A folder that already holds
    /// a reversible migration stays reversible without it.
    pub reversible: bool,
}

/// Whether the folder holds reversible migrations (`<version>_<name>.up.sql`): then every
/// later step is written reversible too.
pub fn is_reversible(dir: &Path) -> Result<bool, MigrateError> {
    if !dir.exists() {
        return Ok(false);
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if entry.file_name().to_string_lossy().ends_with(".up.sql") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The versions of the folder's migration files (`<version>_<name>.sql`, or a reversible
/// pair), ascending, each once.
pub fn existing_versions(dir: &Path) -> Result<Vec<i64>, MigrateError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") || !entry.path().is_file() {
            continue;
        }
        if let Some((version, _)) = name.split_once('_') {
            if let Ok(v) = version.parse::<i64>() {
                versions.push(v);
            }
        }
    }
    versions.sort_unstable();
    versions.dedup();
    Ok(versions)
}

/// The snapshot of the models the folder describes (empty for a new or empty folder), its
/// models allocated in `arena`.
pub fn read_snapshot<'a>(dir: &Path, arena: &'a Bump) -> Result<SchemaSnapshot<'a>, MigrateError> {
    let path = dir.join(SNAPSHOT_PATH);
    match std::fs::read_to_string(&path) {
        Ok(json) => SchemaSnapshot::from_json(&json, arena)
            .map_err(|source| MigrateError::Snapshot { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if existing_versions(dir)?.is_empty() {
                Ok(SchemaSnapshot::empty())
            } else {
                Err(MigrateError::MissingSnapshot {
                    dir: dir.to_owned(),
                })
            }
        }
        Err(e) => Err(io(&path)(e)),
    }
}

/// The first version of a new step: the UTC time `YYYYMMDDHHMMSS`, or the newest existing
/// version + 1 if that is not later (two steps in the same second, or a clock behind).
pub fn next_version(existing: &[i64], now: chrono::DateTime<chrono::Utc>) -> i64 {
    let stamp = |t: chrono::NaiveDateTime| -> i64 {
        t.format("%Y%m%d%H%M%S")
            .to_string()
            .parse()
            .expect("timestamp digits")
    };
    let now = now.naive_utc();
    match existing.iter().max() {
        Some(&newest) if newest >= stamp(now) => {
            // One second after the newest version, so versions stay real timestamps; a
            // version that is no timestamp (hand-written) is simply followed by the next number.
            match chrono::NaiveDateTime::parse_from_str(&newest.to_string(), "%Y%m%d%H%M%S") {
                Ok(t) => stamp(t + chrono::Duration::seconds(1)),
                Err(_) => newest + 1,
            }
        }
        _ => stamp(now),
    }
}

/// The versions of a new step's `count` files: each the [`next_version`] after the one
/// before, so they stay real timestamps (no `...60` when a step starts at second 59).
pub fn step_versions(
    existing: &[i64],
    count: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<i64> {
    let mut versions = existing.to_vec();
    for _ in 0..count {
        versions.push(next_version(&versions, now));
    }
    versions.split_off(existing.len())
}

/// `Add orders.note!` → `add_orders_note`.
pub fn sanitize_name(name: &str) -> Result<String, MigrateError> {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() {
        return Err(MigrateError::InvalidName(name.to_owned()));
    }
    Ok(out)
}

/// Plans the step from the folder's snapshot to `tables` without writing anything.
///
/// The snapshot's models live in an arena for the length of this call: the plan borrows only
/// from `tables`.
pub fn plan_folder<'a>(dir: &Path, tables: &[&'a TableDef<'a>]) -> Result<Plan<'a>, MigrateError> {
    let arena = Bump::new();
    let snapshot = read_snapshot(dir, &arena)?;
    Ok(plan_from(
        &snapshot.to_tables(),
        snapshot.format,
        tables,
        chrono::Utc::now(),
    )?)
}

/// Writes the migration from the folder's state to `tables` (and the new snapshot), named
/// `name`. Destructive changes are refused unless `options.allow_destructive`; the files are
/// sqlx's reversible pairs when `options.reversible` or when the folder already is.
pub fn write_migration<'a>(
    dir: &Path,
    name: &str,
    tables: &[&'a TableDef<'a>],
    options: WriteOptions,
) -> Result<MigrationOutcome<'a>, MigrateError> {
    let name = sanitize_name(name)?;
    let mut plan = plan_folder(dir, tables)?;
    if plan.is_empty() {
        return Ok(MigrationOutcome::NoChange);
    }
    if !plan.destructive.is_empty() && !options.allow_destructive {
        return Err(MigrateError::Destructive(plan.destructive.clone()));
    }
    let existing = existing_versions(dir)?;
    let folder_reversible = is_reversible(dir)?;
    let reversible = options.reversible || folder_reversible;
    if options.reversible && !existing.is_empty() && !folder_reversible {
        plan.warnings.push(format!(
            "the earlier migrations of {} are not reversible: `sqlx migrate revert` can undo only the steps from this one on",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir.join(".dbpat")).map_err(io(dir))?;
    let versions = step_versions(&existing, plan.files.len(), chrono::Utc::now());
    let mut files = Vec::new();
    for (version, file) in versions.into_iter().zip(&plan.files) {
        let stem = format!("{version}_{name}{}", file.suffix);
        let mut write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).map_err(io(&path))?;
            files.push(path);
            Ok::<_, MigrateError>(())
        };
        if reversible {
            write(dir.join(format!("{stem}.up.sql")), render_file(file, &name))?;
            write(
                dir.join(format!("{stem}.down.sql")),
                render_down_file(&file.down, &name),
            )?;
        } else {
            write(dir.join(format!("{stem}.sql")), render_file(file, &name))?;
        }
    }
    let snapshot_path = dir.join(SNAPSHOT_PATH);
    std::fs::write(
        &snapshot_path,
        SchemaSnapshot::from_tables(tables).to_json(),
    )
    .map_err(io(&snapshot_path))?;
    Ok(MigrationOutcome::Written { files, plan })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn versions_are_monotonic() {
        let now = chrono::Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
        assert_eq!(next_version(&[], now), 20250304050607);
        assert_eq!(next_version(&[20250304050607], now), 20250304050608);
        assert_eq!(next_version(&[20240101000000], now), 20250304050607);
        // A burst of versions in one second rolls over into real timestamps.
        assert_eq!(next_version(&[20250304050659], now), 20250304050700);
        assert_eq!(next_version(&[20251231235959], now), 20260101000000);
    }

    #[test]
    fn the_files_of_a_step_have_consecutive_real_seconds() {
        let now = chrono::Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 58).unwrap();
        assert_eq!(
            step_versions(&[20240101000000], 3, now),
            [20250304050658, 20250304050659, 20250304050700]
        );
        assert_eq!(step_versions(&[], 0, now), Vec::<i64>::new());
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(
            sanitize_name("Add orders.note!").unwrap(),
            "add_orders_note"
        );
        assert!(sanitize_name(" -- ").is_err());
    }
}
