#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests (CI and local runs).
#
#   scripts/postgres.sh [start]   install PostgreSQL from the Debian packages if
#                                 no server is installed, then start a private
#                                 cluster (or reuse one that already answers)
#   scripts/postgres.sh stop      stop that private cluster
#
# The last line printed by `start` (on stdout; everything else goes to stderr)
# is the admin URL, e.g. postgres://postgres@127.0.0.1:55432/postgres
#
# The cluster is private to the tests: its own data directory under
# ${TMPDIR:-/tmp}/miko-postgres-<port>, its own port, loopback only, trust
# authentication, and durability switched off for speed. The system's default
# cluster and service are never used or touched. Run as root, the server runs
# as the OS user `postgres` (PostgreSQL refuses to run as root); otherwise as
# the current user.
#
# Environment:
#   MIKO_TEST_POSTGRES_PORT   port to listen on (default 55432)
set -euo pipefail

PORT="${MIKO_TEST_POSTGRES_PORT:-55432}"
BASE="${TMPDIR:-/tmp}/miko-postgres-$PORT"
DATA="$BASE/data"
LOG="$BASE/server.log"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "MIKO_TEST_POSTGRES_PORT must be a port number, not '$PORT'"

# Newest installed server, e.g. /usr/lib/postgresql/15/bin.
bindir() {
  local postgres
  postgres="$(ls -1d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1 || true)"
  [[ -n "$postgres" ]] && dirname "$postgres"
}

install_server() {
  local run=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 \
      || die "PostgreSQL is not installed and installing it needs root: run as root, install sudo, or install the Debian package 'postgresql' yourself"
    run=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL is not installed and apt-get is missing: install a PostgreSQL server by hand"
  log "installing PostgreSQL from the Debian packages"
  "${run[@]}" apt-get update >&2
  "${run[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends postgresql >&2
}

# Runs a command as the owner of the cluster, from a directory that user can read.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

ready() { "$1/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1; }

start() {
  local bin
  bin="$(bindir || true)"
  if [[ -z "$bin" ]]; then
    install_server
    bin="$(bindir || true)"
    [[ -n "$bin" ]] || die "no server under /usr/lib/postgresql/*/bin after installing the package"
  fi

  if ready "$bin"; then
    log "reusing the server that answers on 127.0.0.1:$PORT"
    echo "$URL"
    return 0
  fi

  if [[ "$(id -u)" -eq 0 ]]; then
    getent passwd postgres >/dev/null || die "the OS user 'postgres' is missing (it comes with the Debian package)"
  fi

  mkdir -p "$BASE"
  # Serialise concurrent starts on the same port.
  exec 9>"$BASE.lock"
  command -v flock >/dev/null 2>&1 && flock 9
  if ready "$bin"; then
    log "reusing the server that answers on 127.0.0.1:$PORT"
    echo "$URL"
    return 0
  fi
  [[ "$(id -u)" -eq 0 ]] && chown postgres: "$BASE"
  chmod 700 "$BASE"

  local version
  version="$(basename "$(dirname "$bin")")"
  if [[ -f "$DATA/PG_VERSION" && "$(cat "$DATA/PG_VERSION")" != "$version" ]]; then
    log "data directory is from PostgreSQL $(cat "$DATA/PG_VERSION"), the server is $version: starting afresh"
    rm -rf "$DATA"
  elif [[ -d "$DATA" && ! -f "$DATA/postgresql.conf" ]]; then
    log "removing an incomplete data directory"
    rm -rf "$DATA"
  fi

  if [[ ! -d "$DATA" ]]; then
    log "creating a cluster in $DATA (PostgreSQL $version)"
    as_owner "$bin/initdb" -D "$DATA" -A trust -U postgres --no-locale --encoding=UTF8 --no-sync >&2
    cat >>"$DATA/postgresql.conf" <<EOF

# Miko tests: private, loopback only, not durable.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi

  log "starting the server on 127.0.0.1:$PORT"
  if ! as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2; then
    [[ -f "$LOG" ]] && tail -n 20 "$LOG" >&2
    die "the server did not start (log: $LOG)"
  fi
  for _ in $(seq 1 60); do
    if ready "$bin"; then
      echo "$URL"
      return 0
    fi
    sleep 0.5
  done
  [[ -f "$LOG" ]] && tail -n 20 "$LOG" >&2
  die "the server does not answer on 127.0.0.1:$PORT (log: $LOG)"
}

stop() {
  local bin
  bin="$(bindir || true)"
  if [[ -z "$bin" || ! -f "$DATA/postmaster.pid" ]]; then
    log "no private server running for port $PORT"
    return 0
  fi
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 [start|stop]" ;;
esac
