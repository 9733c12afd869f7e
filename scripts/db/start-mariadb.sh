#!/usr/bin/env bash
# Start a throwaway MariaDB server configured as a CDC source (row binlog, full images/metadata).
# Usage: start-mariadb.sh PORT [DIR]   (DIR defaults to /tmp/opendts-db/mariadb-PORT)
# Env:   MARIADB_ROOT_PASSWORD (default opendts-root): password of root@localhost and root@127.0.0.1.
#        MARIADB_SERVER_ID (default 1), MARIADB_START_TIMEOUT seconds (default 30).
# Idempotent: exits 0 at once if a server already answers on PORT. Runs as root.
set -euo pipefail

PORT="${1:?usage: $0 PORT [DIR]}"
DIR="${2:-/tmp/opendts-db/mariadb-${PORT}}"
ROOT_PW="${MARIADB_ROOT_PASSWORD:-opendts-root}"
SERVER_ID="${MARIADB_SERVER_ID:-1}"
TIMEOUT="${MARIADB_START_TIMEOUT:-30}"

[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "start-mariadb: PORT must be a number, got '$PORT'" >&2; exit 2; }

alive() { mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P"$PORT" --connect-timeout=2 ping >/dev/null 2>&1; }

# Already running (ping succeeds even when it answers "access denied").
if alive; then
  echo "start-mariadb: a server already answers on 127.0.0.1:$PORT"
  exit 0
fi

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
CNF="$DIR/my.cnf"
# The server drops root privileges to 'mysql' when that account exists.
RUN_USER=root
id mysql >/dev/null 2>&1 && RUN_USER=mysql

cat >"$CNF" <<CNF
[mariadbd]
user=$RUN_USER
datadir=$DIR/data
socket=$DIR/mysqld.sock
pid-file=$DIR/mysqld.pid
log-error=$DIR/error.log
port=$PORT
bind-address=127.0.0.1
skip-name-resolve
server_id=$SERVER_ID
log_bin=$DIR/binlog/mysql-bin
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
innodb_buffer_pool_size=64M
innodb_log_file_size=48M
max_connections=500
CNF

mkdir -p "$DIR/binlog"
FRESH=0
if [[ ! -d "$DIR/data/mysql" ]]; then
  rm -rf "$DIR/data"
  chown -R "$RUN_USER" "$DIR"
  echo "start-mariadb: initialising $DIR/data"
  mariadb-install-db --defaults-file="$CNF" --auth-root-authentication-method=normal \
    --skip-test-db >"$DIR/install.log" 2>&1 \
    || { echo "start-mariadb: mariadb-install-db failed, see $DIR/install.log" >&2; tail -n 20 "$DIR/install.log" >&2; exit 1; }
  FRESH=1
fi
chown -R "$RUN_USER" "$DIR"

# A stale pid file from a killed server would confuse stop-mariadb.sh.
rm -f "$DIR/mysqld.pid"
nohup mariadbd --defaults-file="$CNF" >>"$DIR/stdout.log" 2>&1 &
PID=$!

# Bounded wait until the server accepts TCP connections.
for ((i = 0; i < TIMEOUT * 5; i++)); do
  alive && break
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "start-mariadb: mariadbd exited during start-up; last lines of $DIR/error.log:" >&2
    tail -n 20 "$DIR/error.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
if ! alive; then
  echo "start-mariadb: no answer on 127.0.0.1:$PORT after ${TIMEOUT}s; last lines of $DIR/error.log:" >&2
  tail -n 20 "$DIR/error.log" >&2 || true
  exit 1
fi

# Give root a known password, usable over TCP from 127.0.0.1 and over the socket.
PW_SQL="${ROOT_PW//\\/\\\\}"
PW_SQL="${PW_SQL//\'/\\\'}"
SETUP="CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$PW_SQL';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$PW_SQL';
FLUSH PRIVILEGES;"
sock_sql() { mariadb --no-defaults -S "$DIR/mysqld.sock" -uroot "$@"; }
if ! printf '%s\n' "$SETUP" | sock_sql 2>/dev/null \
   && ! printf '%s\n' "$SETUP" | MYSQL_PWD="$ROOT_PW" sock_sql; then
  echo "start-mariadb: could not log in over $DIR/mysqld.sock to set the root password (fresh=$FRESH);" \
    "was $DIR/data created with another MARIADB_ROOT_PASSWORD? Stop the server and delete $DIR to start afresh." >&2
  exit 1
fi

echo "start-mariadb: ready on 127.0.0.1:$PORT (pid $PID, dir $DIR, user root)"
