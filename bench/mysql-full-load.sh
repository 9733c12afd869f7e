#!/usr/bin/env bash
# MySQL -> MySQL full load, OpenDTS beside LOAD DATA LOCAL INFILE. Usage: bench/mysql-full-load.sh [--rows N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p opendts
python3 bench/mysql_full_load.py "$@"
