# An S3-protocol server for the cold tier's tests (tests/cold): moto's server, installed from
# PyPI into a virtualenv under $SERVICES_DIR (pinned; about 20 s, once per clone), on
# 127.0.0.1:$DBPAT_S3_PORT (9100), with the bucket `dbpat-test`. Tests isolate themselves by
# key prefix inside the bucket and delete their prefix when done. Its endpoint is written to
# $SERVICES_DIR/s3.url. moto keeps objects in memory: a restart empties the bucket, which this
# script then creates again.
S3_PORT=${DBPAT_S3_PORT:-9100}
MOTO_VERSION=5.1.22
S3_BUCKET=dbpat-test

s3_up() { # answers S3 requests, and the bucket exists
  curl -fsS -o /dev/null "http://127.0.0.1:$S3_PORT/$S3_BUCKET" 2>/dev/null
}

s3_setup() {
  local venv=$SERVICES_DIR/moto-$MOTO_VERSION
  echo "http://127.0.0.1:$S3_PORT" >"$SERVICES_DIR/s3.url"
  if s3_up; then
    log "S3 (moto): $(cat "$SERVICES_DIR/s3.url") bucket $S3_BUCKET"
    return 0
  fi
  if [ ! -x "$venv/bin/moto_server" ]; then
    command -v python3 >/dev/null || install_pkgs python3 python3-venv
    python3 -m venv "$venv" 2>/dev/null || { install_pkgs python3-venv && python3 -m venv "$venv"; }
    log "installing moto[server]==$MOTO_VERSION from PyPI into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  if ! curl -fsS -o /dev/null "http://127.0.0.1:$S3_PORT/" 2>/dev/null; then
    if port_in_use "$S3_PORT"; then
      log "port $S3_PORT is taken by something that is not an S3 server; set DBPAT_S3_PORT"
      return 1
    fi
    log "starting moto's S3 server on 127.0.0.1:$S3_PORT"
    setsid nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" \
      >"$SERVICES_DIR/moto.log" 2>&1 </dev/null &
    wait_for "S3 (moto) at 127.0.0.1:$S3_PORT" curl -fsS -o /dev/null "http://127.0.0.1:$S3_PORT/"
  fi
  curl -fsS -o /dev/null -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET"
  wait_for "bucket $S3_BUCKET" s3_up
  log "S3 (moto): $(cat "$SERVICES_DIR/s3.url") bucket $S3_BUCKET"
}
mkdir -p "$SERVICES_DIR"
s3_setup
