# A private PostgreSQL primary and a streaming replica of it, for the read-replica tests
# (tests/replicas). Never touches the system cluster on 5432.
#
# - primary: initdb into $SERVICES_DIR/pg-primary, 127.0.0.1:$DBPAT_PG_PRIMARY_PORT (5441),
#   wal_level=replica, trust auth (replication included: initdb's pg_hba has the lines);
# - replica: `pg_basebackup -R -X stream` of it into $SERVICES_DIR/pg-replica,
#   127.0.0.1:$DBPAT_PG_REPLICA_PORT (5442), with recovery_min_apply_delay
#   ($DBPAT_PG_REPLICA_DELAY, 500ms) so that its lag is deterministic;
# - URLs in $SERVICES_DIR/pg-primary.url and pg-replica.url; $SERVICES_DIR/pg-replica-ctl
#   stop|start stops (`-m immediate`) and starts the replica (the tests use it mid-run).
# Each step is skipped when already done; a replica of an older primary is made again.
PG_PRIMARY_PORT=${DBPAT_PG_PRIMARY_PORT:-5441}
PG_REPLICA_PORT=${DBPAT_PG_REPLICA_PORT:-5442}
PG_REPLICA_DELAY=${DBPAT_PG_REPLICA_DELAY:-500ms}

pg_role_is() { # port t|f: up, and pg_is_in_recovery() is t (a replica) or f (a primary)
  [ "$(psql "host=127.0.0.1 port=$1 user=root dbname=postgres connect_timeout=3" \
    -tAc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = "$2" ]
}

pg_replica_setup() {
  local pgbin primary replica sockets fresh_primary=0 opts
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/pg_basebackup" ]; then
    install_pkgs postgresql postgresql-client
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  primary=$SERVICES_DIR/pg-primary
  replica=$SERVICES_DIR/pg-replica
  # Sockets outside the data directories (pg_basebackup would warn about them).
  sockets=$SERVICES_DIR/pg-sockets
  mkdir -p "$sockets"
  [ "$(id -u)" = 0 ] && chown postgres: "$sockets"
  opts="-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100"

  # --- primary
  if ! pg_role_is "$PG_PRIMARY_PORT" f; then
    if port_in_use "$PG_PRIMARY_PORT"; then
      log "port $PG_PRIMARY_PORT is taken by something that is not a PostgreSQL primary; set DBPAT_PG_PRIMARY_PORT"
      return 1
    fi
    if [ ! -s "$primary/PG_VERSION" ]; then
      log "creating the private primary cluster $primary"
      rm -rf "$primary" "$replica"
      mkdir -p "$primary"
      chmod 700 "$primary"
      [ "$(id -u)" = 0 ] && chown postgres: "$primary"
      as_postgres "$pgbin/initdb" -D "$primary" -U root -A trust --no-sync >/dev/null
      fresh_primary=1
    fi
    log "starting the private primary on 127.0.0.1:$PG_PRIMARY_PORT"
    as_postgres "$pgbin/pg_ctl" -D "$primary" -l "$primary/server.log" -w -s -o \
      "-c port=$PG_PRIMARY_PORT -c unix_socket_directories=$sockets $opts -c wal_level=replica -c max_wal_senders=10 -c wal_keep_size=256MB" \
      start >/dev/null
    wait_for "the private primary at 127.0.0.1:$PG_PRIMARY_PORT" pg_role_is "$PG_PRIMARY_PORT" f
  fi

  # --- replica
  if [ "$fresh_primary" = 1 ] || ! pg_role_is "$PG_REPLICA_PORT" t; then
    if [ "$fresh_primary" = 0 ] && [ -s "$replica/PG_VERSION" ]; then
      # Made from this primary? (same system identifier)
      local a b
      a=$("$pgbin/pg_controldata" "$primary" 2>/dev/null | sed -n 's/^Database system identifier: *//p')
      b=$("$pgbin/pg_controldata" "$replica" 2>/dev/null | sed -n 's/^Database system identifier: *//p')
      [ -n "$a" ] && [ "$a" = "$b" ] || { log "the replica in $replica is of another primary: making it again"; rm -rf "$replica"; }
    fi
    if [ "$fresh_primary" = 1 ] || [ ! -s "$replica/PG_VERSION" ]; then
      if pg_role_is "$PG_REPLICA_PORT" t; then
        as_postgres "$pgbin/pg_ctl" -D "$replica" -m immediate -s stop >/dev/null 2>&1 || true
      fi
      log "making the replica $replica (pg_basebackup -R from 127.0.0.1:$PG_PRIMARY_PORT)"
      rm -rf "$replica"
      mkdir -p "$replica"
      chmod 700 "$replica"
      [ "$(id -u)" = 0 ] && chown postgres: "$replica"
      as_postgres "$pgbin/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U root -D "$replica" \
        -R -X stream -c fast --no-sync
      printf "recovery_min_apply_delay = '%s'\n" "$PG_REPLICA_DELAY" | as_postgres tee -a "$replica/postgresql.auto.conf" >/dev/null
    fi
    if port_in_use "$PG_REPLICA_PORT" && ! pg_role_is "$PG_REPLICA_PORT" t; then
      log "port $PG_REPLICA_PORT is taken by something that is not a PostgreSQL replica; set DBPAT_PG_REPLICA_PORT"
      return 1
    fi
    if ! pg_role_is "$PG_REPLICA_PORT" t; then
      log "starting the replica on 127.0.0.1:$PG_REPLICA_PORT (recovery_min_apply_delay $PG_REPLICA_DELAY)"
      as_postgres "$pgbin/pg_ctl" -D "$replica" -l "$replica/server.log" -w -s -o \
        "-c port=$PG_REPLICA_PORT -c unix_socket_directories=$sockets $opts -c hot_standby=on" \
        start >/dev/null
      wait_for "the replica at 127.0.0.1:$PG_REPLICA_PORT" pg_role_is "$PG_REPLICA_PORT" t
    fi
  fi

  # --- the tests' stop/start handle for the replica (runs as postgres when started as root)
  local runas=""
  [ "$(id -u)" = 0 ] && runas="runuser -u postgres --"
  cat >"$SERVICES_DIR/pg-replica-ctl" <<EOF
#!/bin/sh
# Stops (-m immediate) or starts the private replica of scripts/services.d/pg-replica.sh.
set -e
case "\$1" in
  stop) exec $runas "$pgbin/pg_ctl" -D "$replica" -m immediate -s stop ;;
  start) exec $runas "$pgbin/pg_ctl" -D "$replica" -l "$replica/server.log" -w -s -o "-c port=$PG_REPLICA_PORT -c unix_socket_directories=$sockets $opts -c hot_standby=on" start ;;
  *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
EOF
  chmod 755 "$SERVICES_DIR/pg-replica-ctl"
  echo "postgres://root@127.0.0.1:$PG_PRIMARY_PORT/postgres" >"$SERVICES_DIR/pg-primary.url"
  echo "postgres://root@127.0.0.1:$PG_REPLICA_PORT/postgres" >"$SERVICES_DIR/pg-replica.url"
  log "PostgreSQL primary $(cat "$SERVICES_DIR/pg-primary.url"), replica $(cat "$SERVICES_DIR/pg-replica.url") (apply delay $PG_REPLICA_DELAY)"
}
mkdir -p "$SERVICES_DIR"
pg_replica_setup
