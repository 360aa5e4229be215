# A throwaway PostgreSQL for the store tests. Source it (`. .ci/postgres.sh`, as .ci/run does):
# it installs Debian's server when missing, creates a cluster with initdb in a new temp folder
# owned by an unprivileged user (`nobody` when run as root), starts it listening only on a
# Unix socket in that folder (no port to collide with), creates the database `loam`, exports
# LOAM_TEST_POSTGRES, and stops the cluster and removes the folder when the shell exits
# (on failure too).

loam_pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(loam_pg_bindir)" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
LOAM_PG_BIN="$(loam_pg_bindir)"
LOAM_PG_DIR="$(mktemp -d /tmp/loam-pg.XXXXXX)"
if [ "$(id -u)" = 0 ]; then
  chown nobody "$LOAM_PG_DIR"
  loam_pg_as() { runuser -u nobody -- "$@"; }
else
  loam_pg_as() { "$@"; }
fi

loam_pg_stop() {
  if [ -f "$LOAM_PG_DIR/data/postmaster.pid" ]; then
    loam_pg_as "$LOAM_PG_BIN/pg_ctl" -D "$LOAM_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$LOAM_PG_DIR"
}
# run after any EXIT trap already set (e.g. by another .ci script)
loam_pg_prev_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap "loam_pg_stop; $loam_pg_prev_trap" EXIT

loam_pg_as "$LOAM_PG_BIN/initdb" -D "$LOAM_PG_DIR/data" -U loam --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
loam_pg_as "$LOAM_PG_BIN/pg_ctl" -D "$LOAM_PG_DIR/data" -l "$LOAM_PG_DIR/server.log" -w \
  -o "-k $LOAM_PG_DIR -c listen_addresses='' -c max_connections=200" start >/dev/null ||
  { cat "$LOAM_PG_DIR/server.log" >&2; false; }
"$LOAM_PG_BIN/createdb" -h "$LOAM_PG_DIR" -U loam loam
export LOAM_TEST_POSTGRES="postgres://loam@localhost/loam?host=$LOAM_PG_DIR"
echo "postgres: $("$LOAM_PG_BIN/postgres" --version) at $LOAM_TEST_POSTGRES" >&2
