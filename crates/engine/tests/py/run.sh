#!/usr/bin/env bash
# Decodes sample dts_avro records with a stock Avro library (fastavro) and the
# published schema docs/dts_avro.avsc. Writes the samples with the engine's
# Rust test, installs fastavro into a throwaway venv, runs the check.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../../.." && pwd)"
venv="${AVRO_VENV:-/tmp/avro-venv}"
export DTS_AVRO_SAMPLES_DIR="${DTS_AVRO_SAMPLES_DIR:-/tmp/dts-avro-samples}"
rm -rf "$DTS_AVRO_SAMPLES_DIR"
(cd "$root" && cargo test -q -p opendts-engine --lib pipeline::dts_avro::tests::write_samples_for_the_python_check -- --exact)
[[ -f "$DTS_AVRO_SAMPLES_DIR/insert.avro" ]] || { echo "no samples written to $DTS_AVRO_SAMPLES_DIR" >&2; exit 1; }
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import fastavro' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q fastavro
fi
"$venv/bin/python" "$root/crates/engine/tests/py/test_dts_avro.py"
