#!/usr/bin/env bash
# The single test command: builds OpenDTS, runs the Rust tests, makes sure the test databases run,
# prepares the Python venv with the official Alibaba Cloud SDKs, and runs the end-to-end suite.
#
#   bash scripts/test.sh [extra pytest args...]     e.g. bash scripts/test.sh -k lifecycle -x
#
# Env: OPENDTS_TEST_MYSQL_PORT (33061), OPENDTS_TEST_PG_PORT (54321), MARIADB_ROOT_PASSWORD /
#      POSTGRES_PASSWORD (opendts-root), OPENDTS_SKIP_BUILD=1 (use the existing binary),
#      OPENDTS_SKIP_CARGO_TEST=1, OPENDTS_VENV (default <repo>/.venv), PYTHON (default python3).
# Exits non-zero on any failure; the last line is pytest's summary.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

MYSQL_PORT="${OPENDTS_TEST_MYSQL_PORT:-33061}"
MYSQL_TARGET_PORT="${OPENDTS_TEST_MYSQL_TARGET_PORT:-33062}"
PG_PORT="${OPENDTS_TEST_PG_PORT:-54321}"
export OPENDTS_TEST_MYSQL_PORT="$MYSQL_PORT" OPENDTS_TEST_PG_PORT="$PG_PORT" OPENDTS_TEST_MYSQL_TARGET_PORT="$MYSQL_TARGET_PORT"
export MARIADB_ROOT_PASSWORD="${MARIADB_ROOT_PASSWORD:-opendts-root}"
export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-opendts-root}"
VENV="${OPENDTS_VENV:-$REPO/.venv}"
PY="${PYTHON:-python3}"
REQ="$REPO/tests/e2e/requirements.txt"

t0=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - t0))" "$*"; }

# 1. Test databases (the Rust integration tests use them too) (idempotent: a running server is left alone).
step "MariaDB on 127.0.0.1:$MYSQL_PORT, PostgreSQL on 127.0.0.1:$PG_PORT"
bash "$REPO/scripts/db/start-mariadb.sh" "$MYSQL_PORT"
MARIADB_SERVER_ID=2 bash "$REPO/scripts/db/start-mariadb.sh" "$MYSQL_TARGET_PORT"
bash "$REPO/scripts/db/start-postgres.sh" "$PG_PORT"

# 2. Build and Rust tests.
if [[ "${OPENDTS_SKIP_BUILD:-0}" != 1 ]]; then
  step "cargo build --workspace --bins"
  cargo build --workspace --bins
fi
if [[ "${OPENDTS_SKIP_CARGO_TEST:-0}" != 1 ]]; then
  step "cargo test --workspace"
  cargo test --workspace
fi
export OPENDTS_BIN="${OPENDTS_BIN:-$REPO/target/debug/opendts}"
[[ -x "$OPENDTS_BIN" ]] || { echo "test.sh: no binary at $OPENDTS_BIN" >&2; exit 1; }

# 3. Python venv with the pinned SDKs; reinstalled only when requirements.txt changed.
step "Python venv at $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
  echo "$WANT" >"$STAMP"
else
  echo "requirements up to date"
fi

# 4. The end-to-end suite.
step "pytest tests/e2e"
set +e
"$VENV/bin/python" -m pytest -q "$REPO/tests/e2e" "$@"
rc=$?
set -e
printf '==> finished in %ss (pytest exit %s)\n' "$((SECONDS - t0))" "$rc" >&2
exit "$rc"
