//! The Lua scripts of the consistency protocol. Each runs atomically on the server.
//!
//! Keys per id: `K` value, `L` lease, `W` writers hash (`<writer token> -> deadline ms`, plus
//! `~last -> token of the writer that began last`). A writer whose deadline has passed is
//! presumed dead and pruned. Every script that changes `K` or `L` publishes `K` on the wake
//! channel so waiting readers re-check at once.

use super::key::EntityKeys;
use redis::{Script, ScriptInvocation};
use std::sync::LazyLock;

const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Number of live writers on W; prunes the dead ones, deletes W when none is left.
local function live_writers(w, now)
  if redis.call('EXISTS', w) == 0 then return 0 end
  local all = redis.call('HGETALL', w)
  local n = 0
  for i = 1, #all, 2 do
    if all[i] ~= '~last' then
      if tonumber(all[i + 1]) < now then
        redis.call('HDEL', w, all[i])
      else
        n = n + 1
      end
    end
  end
  if n == 0 then redis.call('DEL', w) end
  return n
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

/// Read-or-lease for one or more ids.
/// KEYS: `K1 L1 W1 K2 L2 W2 ...`; ARGV: `token lease_ms force1 force2 ...` (`force = 1`: the
/// cached value is corrupt, do not return it).
/// Returns per id: `{0, value}` cached, `{1}` writers in flight (read the database, do not fill),
/// `{2}` lease granted (load and fill), `{3, pttl}` another reader holds the lease (wait).
pub(crate) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local out = {}
for i = 1, #KEYS, 3 do
  local j = (i + 2) / 3
  local v = false
  if ARGV[2 + j] ~= '1' then v = redis.call('GET', KEYS[i]) end
  if v then
    out[j] = {0, v}
  elseif live_writers(KEYS[i + 2], now) > 0 then
    out[j] = {1}
  elseif redis.call('SET', KEYS[i + 1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[j] = {2}
  else
    out[j] = {3, redis.call('PTTL', KEYS[i + 1])}
  end
end
return out
"#,
    )
});

/// Lease-guarded fill: stores a value only while the reader's lease is still current.
/// KEYS: `K1 L1 K2 L2 ...`; ARGV: `token channel value1 ttl_ms1 value2 ttl_ms2 ...`.
/// Returns per id 1 (stored) or 0 (lease lost: a write happened since the lease was granted).
pub(crate) static FILL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local out = {}
for i = 1, #KEYS, 2 do
  local j = (i + 1) / 2
  if redis.call('GET', KEYS[i + 1]) == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[1 + 2 * j], 'PX', ARGV[2 + 2 * j])
    redis.call('DEL', KEYS[i + 1])
    out[j] = 1
  else
    out[j] = 0
  end
  redis.call('PUBLISH', ARGV[2], KEYS[i])
end
return out
"#,
    )
});

/// Gives leases back without filling (the load failed, or the acquire timed out and may still
/// have run). KEYS: `K1 L1 K2 L2 ...`; ARGV: `token channel`.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i + 1]) == ARGV[1] then redis.call('DEL', KEYS[i + 1]) end
  redis.call('PUBLISH', ARGV[2], KEYS[i])
end
return 1
"#,
    )
});

/// Adopts or starts the dataset generation. KEYS: `marker` (a hash `run_id generation born`);
/// ARGV: `run_id candidate_generation`. A marker of this server process is adopted; a missing
/// one, or one written under another `run_id` (the server restarted, empty or from a dump, or
/// another server took over), is replaced by the candidate, born now.
/// ARGV[3] is the marker's TTL in ms (refreshed by every heartbeat; a marker that expired
/// because no process ran for that long only starts a new generation, which is safe).
/// Returns `{generation, born_ms, now_ms}` (server clock).
pub(crate) static DATASET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local m = redis.call('HMGET', KEYS[1], 'run_id', 'generation', 'born')
if m[1] == ARGV[1] and m[2] and m[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {m[2], tonumber(m[3]), now}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'generation', ARGV[2], 'born', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {ARGV[2], now, now}
"#,
    )
});

/// Ties the dataset to the database its values come from. KEYS: `marker`; ARGV: `identity
/// wal_position candidate_generation`. A marker that names another identity, or a WAL position
/// ahead of this one (the database went back in time), gets the candidate generation, born
/// now; otherwise the identity and the furthest position are recorded. A missing marker is
/// left to the keeper. Returns 1 when a new generation was started, else 0.
pub(crate) static DATABASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local m = redis.call('HMGET', KEYS[1], 'generation', 'db', 'db_lsn')
if not m[1] then return 0 end
local lsn = tonumber(ARGV[2])
if m[2] and (m[2] ~= ARGV[1] or lsn < tonumber(m[3])) then
  redis.call('HSET', KEYS[1], 'generation', ARGV[3], 'born', string.format('%d', now_ms()),
    'db', ARGV[1], 'db_lsn', ARGV[2])
  return 1
end
if not m[2] or lsn > tonumber(m[3]) then
  redis.call('HSET', KEYS[1], 'db', ARGV[1], 'db_lsn', ARGV[2])
end
return 0
"#,
    )
});

/// Starts a new generation by hand (the marker keeps its server and database). KEYS:
/// `marker`; ARGV: `candidate_generation`.
pub(crate) static NEW_GENERATION: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
redis.call('HSET', KEYS[1], 'generation', ARGV[1], 'born', string.format('%d', now_ms()))
return redis.status_reply('OK')
"#,
    )
});

/// The keeper's heartbeat: the marker's generation (nil if it vanished), its TTL refreshed.
/// KEYS: `marker`; ARGV: `ttl_ms`.
pub(crate) static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local g = redis.call('HGET', KEYS[1], 'generation')
if g then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return g
"#,
    )
});

/// A writer announces itself before its database write: registers in W, deletes K and the
/// current lease (so an in-flight fill is refused), wakes waiters.
/// KEYS: `K L W`; ARGV: `token write_ttl_ms channel`. Returns the number of *other* live writers.
pub(crate) static BEGIN_WRITE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local others = live_writers(KEYS[3], now)
redis.call('HSET', KEYS[3], ARGV[1], string.format('%d', now + tonumber(ARGV[2])), '~last', ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[3], KEYS[1])
return others
"#,
    )
});

/// The [`BEGIN_WRITE`] call of writer `token` on the id of `keys` (a registration, or a
/// re-registration in a new dataset).
pub(crate) fn begin_write<'a>(
    keys: &EntityKeys,
    token: &str,
    write_ttl_ms: u64,
    channel: &str,
) -> ScriptInvocation<'a> {
    let mut inv = BEGIN_WRITE.prepare_invoke();
    inv.key(&keys.value)
        .key(&keys.lease)
        .key(&keys.writers)
        .arg(token)
        .arg(write_ttl_ms)
        .arg(channel);
    inv
}

/// A writer finishes after its commit (or abort): unregisters, deletes the lease, and either
/// stores the new row (write-through, only when no other writer overlapped its window) or
/// deletes K. KEYS: `K L W`; ARGV: `token mode value ttl_ms solo channel` with mode `inv`, `set`
/// (store value) or `neg` (store the negative entry given as value). Returns 1 if it stored.
pub(crate) static END_WRITE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local now = now_ms()
local last = redis.call('HGET', KEYS[3], '~last')
redis.call('HDEL', KEYS[3], ARGV[1])
local n = live_writers(KEYS[3], now)
redis.call('DEL', KEYS[2])
local stored = 0
if ARGV[2] ~= 'inv' and ARGV[5] == '1' and n == 0 and last == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  stored = 1
else
  redis.call('DEL', KEYS[1])
end
redis.call('PUBLISH', ARGV[6], KEYS[1])
return stored
"#,
    )
});

/// Stores an attribute and tracks it. KEYS: `sub set`; ARGV: `value ttl_ms`.
pub(crate) static PUT_ATTRIBUTE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
"#,
    )
});

/// Deletes the tracked attribute keys of an id and the tracking set. KEYS: `set`.
/// (The members share the id's hash tag, so they live in the set's slot.)
pub(crate) static SWEEP_TRACKED: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local members = redis.call('SMEMBERS', KEYS[1])
for _, k in ipairs(members) do redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return #members
"#,
    )
});
