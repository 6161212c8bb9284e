# PgBouncer in transaction pooling mode in front of the test PostgreSQL, for the run of the query
# and cache suites through a pooler (scripts/test sets DBPAT_TEST_PG_POOL_URL to its URL).
#
# Debian bookworm packages PgBouncer 1.18, which cannot keep protocol-level prepared statements
# in transaction mode (sqlx prepares every query, and splits Parse/Describe and Bind/Execute
# over two Syncs: 1.18 may hand the second half to another server connection). So this builds
# PgBouncer $PGBOUNCER_VERSION from Debian's own source package (the orig tarball of trixie's
# pgbouncer, checked against the sha256 Debian publishes) with `max_prepared_statements` on,
# once, into $SERVICES_DIR/pgbouncer-$PGBOUNCER_VERSION (about 30 s), then starts it:
#
# - 127.0.0.1:$DBPAT_PGBOUNCER_PORT (6432), every database forwarded to $PGHOST:$PGPORT;
# - pool_mode = transaction, max_prepared_statements = 1000, trust auth;
# - its URL in $SERVICES_DIR/pgbouncer.url.
PGBOUNCER_PORT=${DBPAT_PGBOUNCER_PORT:-6432}
PGBOUNCER_VERSION=1.24.1
PGBOUNCER_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
PGBOUNCER_SOURCE=http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_${PGBOUNCER_VERSION}.orig.tar.gz

pgbouncer_up() { # accepts a query through the pooler
  psql "host=127.0.0.1 port=$PGBOUNCER_PORT user=root dbname=postgres connect_timeout=3" \
    -tAc 'SELECT 1' 2>/dev/null | grep -q 1
}

pgbouncer_build() { # prefix
  local prefix=$1 build
  command -v make >/dev/null && command -v gcc >/dev/null || install_pkgs make gcc
  pkg-config --exists libevent 2>/dev/null || install_pkgs libevent-dev
  build=$(mktemp -d)
  log "building PgBouncer $PGBOUNCER_VERSION from Debian's source package into $prefix"
  curl -fsSL -o "$build/src.tar.gz" "$PGBOUNCER_SOURCE"
  echo "$PGBOUNCER_SHA256  $build/src.tar.gz" | sha256sum -c --quiet
  tar -xzf "$build/src.tar.gz" -C "$build"
  (
    cd "$build/pgbouncer-$PGBOUNCER_VERSION"
    ./configure --prefix="$prefix" --without-cares --without-pam --without-systemd >"$build/configure.log" 2>&1 \
      || { tail -20 "$build/configure.log" >&2; exit 1; }
    make -j"$(nproc)" >"$build/make.log" 2>&1 || { tail -20 "$build/make.log" >&2; exit 1; }
    make install >/dev/null
  )
  rm -rf "$build"
}

pgbouncer_setup() {
  local prefix=$SERVICES_DIR/pgbouncer-$PGBOUNCER_VERSION run=$SERVICES_DIR/pgbouncer runas=()
  echo "postgres://root@127.0.0.1:$PGBOUNCER_PORT/postgres" >"$SERVICES_DIR/pgbouncer.url"
  if pgbouncer_up; then
    log "PgBouncer: $(cat "$SERVICES_DIR/pgbouncer.url") (already running)"
    return 0
  fi
  if port_in_use "$PGBOUNCER_PORT"; then
    log "port $PGBOUNCER_PORT is taken by something that is not a PgBouncer; set DBPAT_PGBOUNCER_PORT"
    return 1
  fi
  [ -x "$prefix/bin/pgbouncer" ] || pgbouncer_build "$prefix"
  mkdir -p "$run"
  cat >"$run/pgbouncer.ini" <<EOF
[databases]
* = host=$PGHOST port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $run/userlist.txt
admin_users = root
pool_mode = transaction
; sqlx prepares every statement (named, when its statement cache is on): PgBouncer tracks them
; and prepares each on whichever server connection a transaction gets.
max_prepared_statements = 1000
max_client_conn = 2000
default_pool_size = 40
; sqlx sends extra_float_digits at start-up; PgBouncer does not track it.
ignore_startup_parameters = extra_float_digits
server_reset_query =
; Tests drop and create databases all the time: retry a failed server login after 1 s, not 15.
server_login_retry = 1
logfile = $run/pgbouncer.log
pidfile = $run/pgbouncer.pid
EOF
  echo '"root" ""' >"$run/userlist.txt"
  # PgBouncer refuses to run as root.
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$run"
    runas=(runuser -u postgres --)
  fi
  log "starting PgBouncer $PGBOUNCER_VERSION on 127.0.0.1:$PGBOUNCER_PORT (transaction pooling)"
  "${runas[@]}" "$prefix/bin/pgbouncer" -d -q "$run/pgbouncer.ini"
  wait_for "PgBouncer at 127.0.0.1:$PGBOUNCER_PORT" pgbouncer_up
  log "PgBouncer: $(cat "$SERVICES_DIR/pgbouncer.url")"
}
mkdir -p "$SERVICES_DIR"
pgbouncer_setup
