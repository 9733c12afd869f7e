"""The demo server consumed with confluent-kafka (librdkafka; stock PyPI package)."""
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from conftest import BASE_TS, HEARTBEAT_MS, MAX_POLL_INTERVAL_MS, N_A, N_B, SESSION_TIMEOUT_MS, TOPIC_A, TOPIC_B


def consumer(server, user="u1", password="p1", group="unused", **extra):
    cfg = {
        "bootstrap.servers": server,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": password,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_MS,
        "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
    }
    cfg.update(extra)
    return Consumer(cfg)


def drain(c, want, timeout=30):
    got, errors = [], []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            errors.append(m.error())
            if m.error().fatal() or m.error().code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                break
            continue
        got.append(m)
    return got, errors


def test_consume_all_in_order_commit_and_resume(server, group):
    c = consumer(server, group=group)
    c.subscribe([TOPIC_A])
    first, errs = drain(c, 120)
    assert not errs
    first = first[:120]
    assert [m.offset() for m in first] == list(range(120))
    assert [m.value() for m in first] == [f"a-{i}".encode() for i in range(120)]
    assert [m.key() for m in first] == [f"k{i}".encode() for i in range(120)]
    assert [m.timestamp()[1] for m in first] == [BASE_TS + i * 1000 for i in range(120)]
    c.commit(offsets=[TopicPartition(TOPIC_A, 0, 120)], asynchronous=False)
    assert c.committed([TopicPartition(TOPIC_A, 0)], timeout=10)[0].offset == 120
    c.close()

    c = consumer(server, group=group)
    c.subscribe([TOPIC_A])
    rest, errs = drain(c, N_A - 120)
    assert not errs
    assert [m.offset() for m in rest] == list(range(120, N_A))
    c.commit(asynchronous=False)
    assert c.committed([TopicPartition(TOPIC_A, 0)], timeout=10)[0].offset == N_A
    c.close()


def test_two_groups_each_get_everything(server, group):
    for g in (group + "-x", group + "-y"):
        c = consumer(server, group=g)
        c.subscribe([TOPIC_A])
        got, errs = drain(c, N_A)
        assert not errs
        assert [m.offset() for m in got] == list(range(N_A)), g
        c.close()


def test_second_user(server, group):
    c = consumer(server, user="u2", password="p2", group=group)
    assert set(c.list_topics(timeout=10).topics) == {TOPIC_B}
    c.subscribe([TOPIC_B])
    got, errs = drain(c, N_B)
    assert not errs
    assert [m.value() for m in got] == [f"b-{i}".encode() for i in range(N_B)]
    c.close()


def test_wrong_password_refused(server, group):
    seen = []
    c = consumer(server, password="wrong", group=group, error_cb=seen.append)
    try:
        c.list_topics(timeout=5)
        raise AssertionError("metadata was served to a refused login")
    except KafkaException:
        pass
    deadline = time.time() + 10
    while time.time() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in seen):
        c.poll(0.2)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen
    c.close()


def test_other_users_topic_refused(server, group):
    c = consumer(server, group=group)
    md = c.list_topics(timeout=10)
    assert TOPIC_B not in md.topics
    md = c.list_topics(TOPIC_B, timeout=10)
    assert md.topics[TOPIC_B].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    c.subscribe([TOPIC_B])
    got, errs = drain(c, 1, timeout=15)
    assert got == []
    assert any(e.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED for e in errs), errs
    c.close()


def test_seek_by_timestamp(server, group):
    c = consumer(server, group=group)
    found = c.offsets_for_times([TopicPartition(TOPIC_A, 0, BASE_TS + 150_500)], timeout=10)[0]
    assert found.error is None and found.offset == 151
    none = c.offsets_for_times([TopicPartition(TOPIC_A, 0, BASE_TS + 10_000_000)], timeout=10)[0]
    assert none.offset == -1  # no record that late: OFFSET_END
    assert c.get_watermark_offsets(TopicPartition(TOPIC_A, 0), timeout=10) == (0, N_A)
    c.assign([TopicPartition(TOPIC_A, 0, found.offset)])
    got, errs = drain(c, 5)
    assert [m.offset() for m in got[:5]] == [151, 152, 153, 154, 155]
    assert got[0].timestamp()[1] == BASE_TS + 151_000
    c.close()


def test_two_consumers_one_group_failover(server, group):
    owned = {1: [], 2: []}

    def on_assign(i):
        def cb(consumer, partitions):
            owned[i] = [p.partition for p in partitions]
        return cb

    def on_revoke(i):
        def cb(consumer, partitions):
            owned[i] = []
        return cb

    cs = {1: consumer(server, group=group), 2: consumer(server, group=group)}
    cs[1].subscribe([TOPIC_A], on_assign=on_assign(1), on_revoke=on_revoke(1))
    cs[2].subscribe([TOPIC_A], on_assign=on_assign(2), on_revoke=on_revoke(2))
    got = {1: [], 2: []}
    stable_since = None
    deadline = time.time() + 40
    while time.time() < deadline:
        for i, c in cs.items():
            m = c.poll(0.1)
            if m is not None and not m.error():
                got[i].append(m)
        split = sorted([owned[1], owned[2]]) == [[], [0]] and got[1] + got[2]
        stable_since = (stable_since or time.time()) if split else None
        if stable_since and time.time() - stable_since > 3:
            break
    assert sorted([owned[1], owned[2]]) == [[], [0]], owned
    owner = 1 if owned[1] else 2
    other = 3 - owner
    assert got[other] == []
    cs[owner].commit(asynchronous=False)
    committed = cs[owner].committed([TopicPartition(TOPIC_A, 0)], timeout=10)[0].offset
    assert committed > 0
    cs[owner].close()
    rest = []
    deadline = time.time() + 40
    while time.time() < deadline and (not rest or rest[-1].offset() < N_A - 1):
        m = cs[other].poll(0.5)
        if m is not None and not m.error():
            rest.append(m)
    assert owned[other] == [0]
    assert [m.offset() for m in rest] == list(range(committed, N_A))
    cs[other].close()
