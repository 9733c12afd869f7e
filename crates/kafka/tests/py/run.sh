#!/usr/bin/env bash
# Runs the Python client tests of the Kafka-protocol endpoint against the demo server.
# Stock clients from PyPI (kafka-python, confluent-kafka) in their own venv: $KAFKA_VENV (default /tmp/kafka-venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
venv="${KAFKA_VENV:-/tmp/kafka-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import kafka, confluent_kafka, pytest" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q kafka-python confluent-kafka pytest
fi
(cd "$root" && cargo build -q -p opendts-kafka --example demo)
cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" .
