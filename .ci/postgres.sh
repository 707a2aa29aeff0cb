# Source this: installs PostgreSQL from Debian's packages when missing, starts a throwaway server on loopback
# and exports DATABASE_URL for it. The server is stopped and its files removed when the calling shell exits.
PG_PORT="${PG_PORT:-54329}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
fi
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DIR="$(mktemp -d /tmp/classifier-pg.XXXXXX)"
chown postgres "$PG_DIR"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_postgres "$PG_BIN/initdb" --pgdata "$PG_DIR/data" --auth trust --username postgres --encoding UTF8 >/dev/null
as_postgres "$PG_BIN/pg_ctl" --pgdata "$PG_DIR/data" --log "$PG_DIR/server.log" --wait \
    --options "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
stop_postgres() { as_postgres "$PG_BIN/pg_ctl" --pgdata "$PG_DIR/data" --mode fast stop >/dev/null 2>&1; rm -rf "$PG_DIR"; }
trap stop_postgres EXIT
as_postgres "$PG_BIN/createdb" --host 127.0.0.1 --port "$PG_PORT" --username postgres classifier
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/classifier"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
