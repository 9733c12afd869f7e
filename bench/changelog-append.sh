#!/usr/bin/env bash
# Change log (issue 5): append throughput (1,000,000 records of 300 bytes in batches of 100, fsync every
# append and never), read throughput, and open time of a 1 GB log.
# Usage: bench/changelog-append.sh [--records N] [--batch N] [--record-bytes N] [--open-gb N] [--cold] [--dir PATH]
# --cold (root only) also times an open after dropping the page cache, which disturbs the whole machine.
# The logs are written under $TMPDIR (or --dir) and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p opendts-changelog --example changelog_bench
exec target/release/examples/changelog_bench "$@"
