//! What the workers recorded, checked against the guarantee.
//!
//! A read is **stale** if it started after the commit (intent path) or return (cached writes)
//! of a committed write of the same row with a larger `n`, and returned a smaller `n`. In
//! `strict` mode every stale read fails the check. In `available` mode a stale read is allowed
//! when every write it missed was unconfirmed (Redis did not confirm the registration) and it
//! started no later than [`AVAILABLE_STALENESS_BOUND`] after the fault ended. Strict mode also
//! fails a write of the explicit path that committed although its `begin_write` was not
//! confirmed (for the cached handle's writes the counters cannot tell an unconfirmed
//! registration from an unconfirmed end of write, so those are only counted).

use crate::mode::{Mode, AVAILABLE_STALENESS_BOUND};
use crate::scenarios::{Fault, Window};
use crate::worker::{Event, WritePath};
use std::collections::HashMap;

/// Fewer than this many reads, or no committed write, after the fault: the run proved nothing.
const MIN_READS_AFTER_FAULT: usize = 100;

/// One committed write of a row.
#[derive(Debug, Clone, Copy)]
struct Commit {
    n: i64,
    t: u64,
    confirmed: bool,
}

/// The measured figures of one run, checked as one mode.
#[derive(Debug, Clone)]
pub struct Report {
    pub mode: Mode,
    pub fault: Fault,
    pub window: Window,
    pub t0: u64,
    pub reads: usize,
    pub stale: usize,
    /// Stale reads the mode does not allow.
    pub disallowed: usize,
    pub failed_reads: usize,
    pub writes_ok: usize,
    pub writes_failed: usize,
    /// Ok writes whose registration Redis did not confirm.
    pub unconfirmed: usize,
    /// Of those, writes of the explicit path (`begin_write` ... `committed`), where the
    /// registration is told apart exactly: strict mode must have failed them.
    pub unconfirmed_intent: usize,
    /// Writes that reported an error but committed.
    pub failed_but_committed: usize,
    /// The stalest read: increments behind, and how long the row had been newer (ms).
    pub max_stale_n: i64,
    pub max_stale_ms: f64,
    /// Stale reads started after the fault ended.
    pub stale_after_fault: usize,
    /// The last stale read's start, ms after the fault ended (negative: during the fault).
    pub last_stale_ms: Option<f64>,
    pub hits: u64,
    pub misses: u64,
    pub failures: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Checks the events of one run (every worker's) as `mode`; `readers` are the events of the
/// reader processes only (for the hit rate), a subset of `events`.
pub fn analyse(
    mode: Mode,
    fault: Fault,
    window: Window,
    t0: u64,
    events: &[Event],
    reader_metrics: &[Event],
    worker_failures: &[String],
) -> Report {
    let mut commits: HashMap<i64, Vec<Commit>> = HashMap::new();
    let mut r = Report {
        mode,
        fault,
        window,
        t0,
        reads: 0,
        stale: 0,
        disallowed: 0,
        failed_reads: 0,
        writes_ok: 0,
        writes_failed: 0,
        unconfirmed: 0,
        unconfirmed_intent: 0,
        failed_but_committed: 0,
        max_stale_n: 0,
        max_stale_ms: 0.0,
        stale_after_fault: 0,
        last_stale_ms: None,
        hits: 0,
        misses: 0,
        failures: worker_failures.to_vec(),
    };
    let mut writes_after_fault = 0usize;
    for e in events {
        if let Event::Write {
            row,
            n,
            t,
            path,
            ok,
            confirmed,
            committed,
            ..
        } = *e
        {
            if ok {
                r.writes_ok += 1;
                if !confirmed {
                    r.unconfirmed += 1;
                    if path == WritePath::Intent {
                        r.unconfirmed_intent += 1;
                    }
                }
                if t > window.end {
                    writes_after_fault += 1;
                }
            } else {
                r.writes_failed += 1;
                if committed {
                    r.failed_but_committed += 1;
                }
            }
            if committed {
                commits
                    .entry(row)
                    .or_default()
                    .push(Commit { n, t, confirmed });
            }
        }
    }
    for list in commits.values_mut() {
        list.sort_by_key(|c| c.n);
    }
    let bound = AVAILABLE_STALENESS_BOUND.as_micros() as u64;
    let mut reads_after_fault = 0usize;
    for e in events {
        let Event::Read {
            row,
            n,
            t_start,
            ref error,
            probe,
            ..
        } = *e
        else {
            continue;
        };
        if error.is_some() {
            r.failed_reads += 1;
        }
        if probe {
            continue;
        }
        r.reads += 1;
        if t_start > window.end {
            reads_after_fault += 1;
        }
        let (Some(n), Some(list)) = (n, commits.get(&row)) else {
            continue;
        };
        // The committed writes newer than what the read returned, that committed before it
        // started: the writes it missed.
        let first_newer = list.partition_point(|c| c.n <= n);
        let missed: Vec<&Commit> = list[first_newer..]
            .iter()
            .take_while(|c| c.t <= t_start)
            .collect();
        let Some(first) = missed.first() else {
            continue;
        };
        r.stale += 1;
        let behind = missed.last().map_or(0, |c| c.n) - n;
        let stale_ms = (t_start - first.t) as f64 / 1000.0;
        r.max_stale_n = r.max_stale_n.max(behind);
        r.max_stale_ms = r.max_stale_ms.max(stale_ms);
        if t_start > window.end {
            r.stale_after_fault += 1;
        }
        let since_fault = (t_start as f64 - window.end as f64) / 1000.0;
        r.last_stale_ms = Some(r.last_stale_ms.map_or(since_fault, |m| m.max(since_fault)));
        let allowed = match mode {
            Mode::Strict => false,
            Mode::Available => missed.iter().all(|c| !c.confirmed) && t_start <= window.end + bound,
        };
        if !allowed {
            r.disallowed += 1;
        }
    }
    for m in reader_metrics {
        if let Event::Metrics { hits, misses, .. } = *m {
            r.hits += hits;
            r.misses += misses;
        }
    }

    if r.disallowed > 0 {
        r.failures.push(match mode {
            Mode::Strict => format!("{} stale reads (strict allows none)", r.disallowed),
            Mode::Available => format!(
                "{} stale reads beyond the allowance (after a confirmed write, or later than \
                 {AVAILABLE_STALENESS_BOUND:?} after the fault)",
                r.disallowed
            ),
        });
    }
    if mode == Mode::Strict && r.unconfirmed_intent > 0 {
        r.failures.push(format!(
            "{} writes committed although Redis did not confirm their begin_write (strict \
             fails them before PostgreSQL)",
            r.unconfirmed_intent
        ));
    }
    if r.failed_reads > 0 {
        r.failures.push(format!(
            "{} reads failed while PostgreSQL was up",
            r.failed_reads
        ));
    }
    if r.failed_but_committed > 0 {
        r.failures.push(format!(
            "{} writes reported an error but committed",
            r.failed_but_committed
        ));
    }
    if r.hits == 0 {
        r.failures
            .push("no cache hit: the readers never used Redis".into());
    }
    if fault != Fault::ReplyError {
        if reads_after_fault < MIN_READS_AFTER_FAULT {
            r.failures.push(format!(
                "only {reads_after_fault} reads after the fault (want >= {MIN_READS_AFTER_FAULT})"
            ));
        }
        if writes_after_fault == 0 {
            r.failures.push("no write committed after the fault".into());
        }
    } else if r.reads < MIN_READS_AFTER_FAULT || r.writes_ok == 0 {
        r.failures
            .push(format!("only {} reads and {} writes", r.reads, r.writes_ok));
    }
    r
}

fn secs(t: u64, t0: u64) -> f64 {
    (t as f64 - t0 as f64) / 1e6
}

/// The per-run table.
pub fn print_table(reports: &[Report]) {
    let header = [
        "mode",
        "fault",
        "window (s)",
        "reads",
        "stale",
        "disallowed",
        "failed reads",
        "writes ok",
        "writes failed",
        "unconfirmed ok (intent)",
        "max staleness",
        "stale after end",
        "last stale",
        "hit %",
        "result",
    ];
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let total = r.hits + r.misses;
            vec![
                r.mode.name().to_owned(),
                r.fault.name().to_owned(),
                format!(
                    "{:.2}-{:.2}",
                    secs(r.window.start, r.t0),
                    secs(r.window.end, r.t0)
                ),
                r.reads.to_string(),
                r.stale.to_string(),
                r.disallowed.to_string(),
                r.failed_reads.to_string(),
                r.writes_ok.to_string(),
                r.writes_failed.to_string(),
                format!("{} ({})", r.unconfirmed, r.unconfirmed_intent),
                if r.stale == 0 {
                    "-".to_owned()
                } else {
                    format!("{} incr / {:.0} ms", r.max_stale_n, r.max_stale_ms)
                },
                r.stale_after_fault.to_string(),
                r.last_stale_ms
                    .map_or("-".to_owned(), |ms| format!("end{ms:+.0} ms")),
                if total == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.0}", 100.0 * r.hits as f64 / total as f64)
                },
                if r.passed() { "ok" } else { "FAIL" }.to_owned(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(header.to_vec());
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
