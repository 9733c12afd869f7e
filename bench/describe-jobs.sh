#!/usr/bin/env bash
# DescribeDtsJobs latency with 10,000 jobs in the store. Usage: bench/describe-jobs.sh [--jobs N] [--calls N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p opendts
python3 bench/describe_jobs.py --bin target/release/opendts "$@"
