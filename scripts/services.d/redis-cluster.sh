# The shared Redis Cluster the cluster tests use (scripts/redis-cluster: 6 nodes, 3 primaries
# with a replica each) on 127.0.0.1:$DBPAT_REDIS_CLUSTER_PORT.. (default 7101..7106). Its seed
# URLs go to $SERVICES_DIR/redis-cluster.url, one per line. Tests that kill a node start a
# private cluster of their own instead.
REDIS_CLUSTER_PORT=${DBPAT_REDIS_CLUSTER_PORT:-7101}
command -v redis-server >/dev/null || install_pkgs redis-server
"$ROOT/scripts/redis-cluster" start "$SERVICES_DIR/redis-cluster" "$REDIS_CLUSTER_PORT" \
  >"$SERVICES_DIR/redis-cluster.url"
log "Redis Cluster: $(paste -sd' ' "$SERVICES_DIR/redis-cluster.url")"
