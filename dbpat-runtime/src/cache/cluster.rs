//! What the cache needs to know about a Redis Cluster: the identity of the dataset (its
//! primaries), the slot of a key, the errors that mean "the topology changed", and a SCAN of
//! every primary.
//!
//! **Dataset identity.** Each primary holds its own part of the data, and each can lose it on
//! its own: a failover promotes a replica that may have missed the last writes acknowledged by
//! the old primary (replication is asynchronous), and a restarted primary comes back empty or
//! from an old dump. So the cluster's dataset is named by the set of its primaries'
//! `(node id, run_id)`, read from the very node the connection routes each slot range to
//! (`CLUSTER MYID` and `INFO server replication`, which must say `role:master`): a new primary
//! or a restarted one changes the [`Topology::fingerprint`], which the link passes to the
//! `DATASET` script as its "run_id" — so any primary's restart or failover starts a new
//! generation of the whole cluster, exactly like a single server's restart.

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};

/// The number of hash slots of a Redis Cluster.
const SLOTS: u32 = 16384;

/// The verified primaries of a cluster, as one connection routes to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topology {
    /// `node id/run_id` of every primary, sorted, comma-separated.
    pub(crate) fingerprint: String,
    /// `(host, port)` of every primary (for a SCAN of each).
    pub(crate) primaries: Vec<(String, u16)>,
}

/// The slot of `key` (its hash tag's, when it has one).
pub(crate) fn slot_of(key: &str) -> Slot {
    Slot::for_key(key)
}

/// Whether an error on a cluster connection means the topology changed or a node is not
/// (yet) serving its slots: the link must be retired and a new one verified before use.
pub(crate) fn is_topology_error(e: &RedisError) -> bool {
    e.is_cluster_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::BusyLoading
            )
        )
}

fn protocol(reason: impl Into<String>) -> RedisError {
    RedisError::from((ErrorKind::Client, "unexpected cluster reply", reason.into()))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

/// One range of `CLUSTER SLOTS`: `(first slot, last slot, primary node id)`.
fn parse_slots(reply: &Value) -> RedisResult<Vec<(u16, u16, String)>> {
    let Value::Array(ranges) = reply else {
        return Err(protocol("CLUSTER SLOTS is not an array"));
    };
    let mut out = Vec::with_capacity(ranges.len());
    let mut covered = 0u32;
    for range in ranges {
        let Value::Array(items) = range else {
            return Err(protocol("a CLUSTER SLOTS range is not an array"));
        };
        let (Some(start), Some(end), Some(Value::Array(primary))) = (
            items.first().and_then(int),
            items.get(1).and_then(int),
            items.get(2),
        ) else {
            return Err(protocol("a CLUSTER SLOTS range is malformed"));
        };
        let id = primary
            .get(2)
            .and_then(text)
            .ok_or_else(|| protocol("a CLUSTER SLOTS range names no node id"))?;
        if !(0..SLOTS as i64).contains(&start) || !(start..SLOTS as i64).contains(&end) {
            return Err(protocol("a CLUSTER SLOTS range is out of bounds"));
        }
        covered += (end - start + 1) as u32;
        out.push((start as u16, end as u16, id));
    }
    if covered != SLOTS {
        return Err(RedisError::from((
            ErrorKind::Server(ServerErrorKind::ClusterDown),
            "not every slot is served",
            format!("{covered} of {SLOTS} slots assigned"),
        )));
    }
    Ok(out)
}

/// A field of an `INFO` reply.
pub(crate) fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Reads and checks the cluster's primaries through `conn`'s own routing: for every slot
/// range, the node the connection sends that range's commands to must be a primary, and the
/// one `CLUSTER SLOTS` names. Any disagreement (a failover in progress, a node not yet
/// known) is an error: the caller retries with a fresh connection.
pub(crate) async fn topology(conn: &mut ClusterConnection) -> RedisResult<Topology> {
    let slots: Value = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
        )
        .await?;
    let ranges = parse_slots(&slots)?;
    let mut seen: Vec<(String, String, String, u16)> = Vec::new();
    for (start, _end, claimed) in ranges {
        if seen.iter().any(|(id, ..)| *id == claimed) {
            continue;
        }
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            start,
            SlotAddr::Master,
        )));
        let myid = conn
            .route_command(redis::cmd("CLUSTER").arg("MYID").clone(), route.clone())
            .await?;
        let myid = text(&myid).ok_or_else(|| protocol("CLUSTER MYID is not a string"))?;
        if myid != claimed {
            return Err(RedisError::from((
                ErrorKind::Server(ServerErrorKind::TryAgain),
                "the slot map is changing",
                format!(
                    "slot {start}: CLUSTER SLOTS names {claimed}, the connection reaches {myid}"
                ),
            )));
        }
        let info = conn
            .route_command(
                redis::cmd("INFO").arg("server").arg("replication").clone(),
                route,
            )
            .await?;
        let info = text(&info).ok_or_else(|| protocol("INFO is not a string"))?;
        if info_field(&info, "role") != Some("master") {
            return Err(RedisError::from((
                ErrorKind::Server(ServerErrorKind::TryAgain),
                "the slot map is changing",
                format!("slot {start} is routed to {myid}, which is not a primary"),
            )));
        }
        let run_id = info_field(&info, "run_id")
            .ok_or_else(|| protocol("INFO server has no run_id"))?
            .to_owned();
        let port: u16 = info_field(&info, "tcp_port")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| protocol("INFO server has no tcp_port"))?;
        seen.push((myid, run_id, String::new(), port));
    }
    // The addresses the connection itself uses for the primaries (for SCAN by address).
    let nodes: Value = conn
        .route_command(
            redis::cmd("CLUSTER").arg("NODES").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
        )
        .await?;
    let nodes = text(&nodes).ok_or_else(|| protocol("CLUSTER NODES is not a string"))?;
    for (id, _, host, port) in &mut seen {
        let line = nodes
            .lines()
            .find(|l| l.split(' ').next() == Some(id.as_str()))
            .ok_or_else(|| protocol(format!("CLUSTER NODES does not list {id}")))?;
        let addr = line.split(' ').nth(1).unwrap_or_default();
        let addr = addr.split('@').next().unwrap_or_default();
        let (h, p) = addr
            .rsplit_once(':')
            .ok_or_else(|| protocol(format!("CLUSTER NODES: bad address {addr:?}")))?;
        *host = h.to_owned();
        *port = p.parse().unwrap_or(*port);
    }
    let mut ids: Vec<String> = seen
        .iter()
        .map(|(id, run, ..)| format!("{id}/{run}"))
        .collect();
    ids.sort();
    Ok(Topology {
        fingerprint: ids.join(","),
        primaries: seen.into_iter().map(|(_, _, h, p)| (h, p)).collect(),
    })
}

/// `CONFIG GET cluster-node-timeout` in milliseconds, if the cluster allows `CONFIG`.
pub(crate) async fn node_timeout_ms(conn: &mut ClusterConnection) -> Option<u64> {
    let reply: Value = conn
        .route_command(
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("cluster-node-timeout")
                .clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
        )
        .await
        .ok()?;
    match reply {
        Value::Array(items) => items.get(1).and_then(text)?.parse().ok(),
        Value::Map(pairs) => pairs.first().and_then(|(_, v)| text(v))?.parse().ok(),
        _ => None,
    }
}

/// One page of `SCAN cursor MATCH pattern COUNT count` on the node at `addr`.
pub(crate) async fn scan_node(
    conn: &mut ClusterConnection,
    addr: &(String, u16),
    cursor: u64,
    pattern: &str,
    count: usize,
) -> RedisResult<(u64, Vec<String>)> {
    let reply = conn
        .route_command(
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(count)
                .clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                host: addr.0.clone(),
                port: addr.1,
            }),
        )
        .await?;
    Ok(redis::from_redis_value(reply)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_hash_tag() {
        // Known values of CRC16/XMODEM mod 16384 (the Redis Cluster spec's test vector).
        assert_eq!(Some(slot_of("123456789")), Slot::new(0x31C3));
        assert_eq!(slot_of("user:{123456789}:x"), slot_of("123456789"));
        assert_ne!(slot_of("user:{1}"), slot_of("user:{2}"));
    }

    #[test]
    fn parses_info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\ntcp_port:7101\r\n# Replication\r\nrole:master\r\n";
        assert_eq!(info_field(info, "run_id"), Some("abc"));
        assert_eq!(info_field(info, "role"), Some("master"));
        assert_eq!(info_field(info, "run"), None);
    }

    #[test]
    fn a_partial_slot_map_is_refused() {
        let range = |a: i64, b: i64| {
            Value::Array(vec![
                Value::Int(a),
                Value::Int(b),
                Value::Array(vec![
                    Value::BulkString(b"127.0.0.1".to_vec()),
                    Value::Int(7101),
                    Value::BulkString(b"n1".to_vec()),
                ]),
            ])
        };
        assert!(parse_slots(&Value::Array(vec![range(0, 16383)])).is_ok());
        let err = parse_slots(&Value::Array(vec![range(0, 100)])).unwrap_err();
        assert!(is_topology_error(&err), "{err}");
    }
}
