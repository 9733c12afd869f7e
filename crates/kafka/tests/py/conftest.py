"""Starts the demo Kafka-protocol server (crates/kafka/examples/demo.rs) once for the whole session.

The demo serves, over SASL PLAIN: u1/p1 -> topic dts_topic_a (300 records), u2/p2 -> dts_topic_b (200 records).
Record i has key k<i>, value a-<i> / b-<i>, timestamp BASE_TS + i*1000 ms.
"""
import os
import subprocess
import uuid

import pytest

BASE_TS = 1_700_000_000_000
TOPIC_A, TOPIC_B = "dts_topic_a", "dts_topic_b"
N_A, N_B = 300, 200

# Client settings chosen for quick rebalances (the server accepts session timeouts from 1 s):
# session timeout 6 s, heartbeats every 1 s, max poll interval (= rebalance timeout) 10 s.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 1000
MAX_POLL_INTERVAL_MS = 10000


def _demo_binary():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    return os.path.join(target, "debug", "examples", "demo")


@pytest.fixture(scope="session")
def server():
    binary = _demo_binary()
    if not os.path.exists(binary):
        pytest.fail(f"{binary} missing: run `cargo build -p opendts-kafka --example demo` (run.sh does)")
    log = open(os.path.join(os.environ.get("KAFKA_TEST_LOG_DIR", "/tmp"), "opendts-kafka-demo.log"), "w")
    proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[:1] == ["LISTENING"], f"unexpected demo output {line!r}"
        yield f"127.0.0.1:{line[1]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def group():
    return "g-" + uuid.uuid4().hex[:10]
