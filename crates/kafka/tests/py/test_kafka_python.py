"""The demo server consumed with kafka-python (stock PyPI package)."""
import time

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka import errors as kerr
from kafka.structs import OffsetAndMetadata

from conftest import BASE_TS, HEARTBEAT_MS, MAX_POLL_INTERVAL_MS, N_A, N_B, SESSION_TIMEOUT_MS, TOPIC_A, TOPIC_B


def consumer(server, user="u1", password="p1", group=None, **extra):
    cfg = dict(
        bootstrap_servers=server,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username=user,
        sasl_plain_password=password,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        request_timeout_ms=30000,
    )
    cfg.update(extra)
    return KafkaConsumer(**cfg)


def drain(c, want, timeout=30):
    """Polls until `want` records arrived (or timeout); returns them."""
    got = []
    deadline = time.time() + timeout
    while len(got) < want and time.time() < deadline:
        for recs in c.poll(timeout_ms=500, max_records=50).values():
            got.extend(recs)
    return got


def test_consume_all_in_order_commit_and_resume(server, group):
    tp = TopicPartition(TOPIC_A, 0)
    c = consumer(server, group=group, max_poll_records=10)
    c.subscribe([TOPIC_A])
    first = drain(c, 120)
    assert len(first) >= 120
    first = first[:120]
    assert [r.offset for r in first] == list(range(120))
    assert [r.value for r in first] == [f"a-{i}".encode() for i in range(120)]
    assert [r.key for r in first] == [f"k{i}".encode() for i in range(120)]
    assert [r.timestamp for r in first] == [BASE_TS + i * 1000 for i in range(120)]
    c.commit({tp: OffsetAndMetadata(120, "half", -1)})
    assert c.committed(tp) == 120
    c.close()

    # reconnect: the group resumes from its committed offset
    c = consumer(server, group=group)
    c.subscribe([TOPIC_A])
    rest = drain(c, N_A - 120)
    assert [r.offset for r in rest] == list(range(120, N_A))
    assert rest[-1].value == f"a-{N_A - 1}".encode()
    c.commit()
    assert c.committed(tp) == N_A
    assert drain(c, 1, timeout=2) == []
    c.close()


def test_two_groups_each_get_everything(server, group):
    for g in (group + "-x", group + "-y"):
        c = consumer(server, group=g)
        c.subscribe([TOPIC_A])
        recs = drain(c, N_A)
        assert [r.offset for r in recs] == list(range(N_A)), g
        c.close()


def test_second_user_sees_its_own_topic(server, group):
    c = consumer(server, user="u2", password="p2", group=group)
    assert c.topics() == {TOPIC_B}
    c.subscribe([TOPIC_B])
    recs = drain(c, N_B)
    assert [r.value for r in recs] == [f"b-{i}".encode() for i in range(N_B)]
    c.close()


def test_wrong_password_refused(server, group):
    # kafka-python reports the refused SASL login of its bootstrap as "Unable to bootstrap" (KafkaTimeoutError).
    with pytest.raises(kerr.KafkaError):
        c = consumer(server, password="wrong", group=group, bootstrap_timeout_ms=3000)
        c.topics()
    with pytest.raises(kerr.KafkaError):
        c = consumer(server, user="u2", password="p1", group=group, bootstrap_timeout_ms=3000)
        c.topics()
    # control: the right password on the same path works
    c = consumer(server, group=group, bootstrap_timeout_ms=3000)
    assert c.topics() == {TOPIC_A}
    c.close()


def test_other_users_topic_refused(server, group, caplog):
    c = consumer(server, group=group)
    assert TOPIC_B not in c.topics()
    assert not c.partitions_for_topic(TOPIC_B)
    tp = TopicPartition(TOPIC_B, 0)
    with pytest.raises(kerr.TopicAuthorizationFailedError):
        c.beginning_offsets([tp])
    with pytest.raises(kerr.TopicAuthorizationFailedError):
        c.offsets_for_times({tp: BASE_TS})
    # Subscribing: kafka-python logs the refusal (Metadata answers TOPIC_AUTHORIZATION_FAILED), gets no
    # partition and no record.
    caplog.set_level("ERROR", logger="kafka.cluster")
    c.subscribe([TOPIC_B])
    got = []
    try:
        got = drain(c, 1, timeout=3)
    except kerr.TopicAuthorizationFailedError:
        pass
    assert got == []
    assert c.assignment() == set()
    assert any("not authorized" in r.getMessage() for r in caplog.records)
    c.close()


def test_seek_by_timestamp(server):
    tp = TopicPartition(TOPIC_A, 0)
    c = consumer(server, group=None)
    c.assign([tp])
    found = c.offsets_for_times({tp: BASE_TS + 150_500})[tp]
    assert (found.offset, found.timestamp) == (151, BASE_TS + 151_000)
    assert c.offsets_for_times({tp: BASE_TS + 10_000_000})[tp] is None
    assert c.beginning_offsets([tp])[tp] == 0
    assert c.end_offsets([tp])[tp] == N_A
    c.seek(tp, found.offset)
    recs = drain(c, 5)
    assert [r.offset for r in recs[:5]] == [151, 152, 153, 154, 155]
    c.close()


def test_two_consumers_one_group_failover(server, group):
    tp = TopicPartition(TOPIC_A, 0)
    c1 = consumer(server, group=group, max_poll_records=5)
    c2 = consumer(server, group=group, max_poll_records=5)
    c1.subscribe([TOPIC_A])
    c2.subscribe([TOPIC_A])
    got = {1: [], 2: []}
    stable_since = None
    deadline = time.time() + 40
    # Poll both until the group is stable with both members: one owns the partition, the other nothing.
    while time.time() < deadline:
        for i, c in ((1, c1), (2, c2)):
            for recs in c.poll(timeout_ms=200).values():
                got[i].extend(recs)
        a1, a2 = c1.assignment(), c2.assignment()
        split = {frozenset(a1), frozenset(a2)} == {frozenset({tp}), frozenset()} and got[1] + got[2]
        stable_since = (stable_since or time.time()) if split else None
        # the same split for 3 s (3 heartbeats each): no rebalance is under way
        if stable_since and time.time() - stable_since > 3:
            break
    a1, a2 = c1.assignment(), c2.assignment()
    assert {frozenset(a1), frozenset(a2)} == {frozenset({tp}), frozenset()}, (a1, a2)
    owner, other = (c1, c2) if a1 else (c2, c1)
    # the owner commits what it has, then leaves; the other takes over from the committed offset
    owner.commit()
    committed = owner.committed(tp)
    assert committed and committed > 0
    owner.close()
    rest = []
    deadline = time.time() + 40
    while time.time() < deadline and (not rest or rest[-1].offset < N_A - 1):
        for recs in other.poll(timeout_ms=500).values():
            rest.extend(recs)
    assert other.assignment() == {tp}
    assert [r.offset for r in rest] == list(range(committed, N_A))
    other.close()
