#!/usr/bin/env bash
# MySQL -> MySQL incremental apply, OpenDTS beside a native MariaDB replica. Usage: bench/mysql-incremental.sh [--updates N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p opendts
python3 bench/mysql_incremental.py "$@"
