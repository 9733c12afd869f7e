"""Change tracking end to end with stock Kafka clients from PyPI: a subscription configured through the official
SDK captures a MariaDB table; a consumer group created with CreateConsumerChannel consumes the changes over
OpenDTS's Kafka endpoint (SASL PLAIN as `<user>-<ConsumerGroupID>`), with kafka-python and with confluent-kafka,
records decoded with fastavro and the published schema docs/dts_avro.avsc. The committed offset becomes the
group's ConsumptionCheckpoint, and a reconnecting consumer resumes after it."""

from __future__ import annotations

import io
import json
import secrets
import time

import pytest

from conftest import REPO, mysql_exec, pg_drop_database, pg_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump

fastavro = pytest.importorskip("fastavro")
kafka = pytest.importorskip("kafka")
confluent_kafka = pytest.importorskip("confluent_kafka")

SCHEMA = fastavro.parse_schema(json.loads((REPO / "docs" / "dts_avro.avsc").read_text()))
PASSWORD = "Consum3r-pass"


def decode(value: bytes) -> dict:
    return fastavro.schemaless_reader(io.BytesIO(value), SCHEMA)


@pytest.fixture
def sub_db(mysql):
    name = "kc_" + secrets.token_hex(4)
    mysql_exec(f"CREATE DATABASE `{name}`; CREATE TABLE `{name}`.orders (id INT PRIMARY KEY, note VARCHAR(20))")
    yield name
    mysql_exec(f"DROP DATABASE IF EXISTS `{name}`", check=False)


def subscription(raw, mysql, db):
    job = create_instance(raw, "SUBSCRIBE")["JobId"]
    r = raw.call("ConfigureSubscription", {
        "DtsJobId": job, "DtsJobName": "consume", "RegionId": REGION,
        "SourceEndpointInstanceType": "OTHER", "SourceEndpointEngineName": "MySQL",
        "SourceEndpointIP": mysql.host, "SourceEndpointPort": str(mysql.port),
        "SourceEndpointUserName": mysql.user, "SourceEndpointPassword": mysql.password,
        "DbList": json.dumps({db: {"name": db, "all": True}}),
        "SubscriptionInstanceNetworkType": "classic",
    })
    assert is_true(r.get("Success")), r
    raw.call("StartDtsJob", {"DtsJobId": job})
    d = poll(lambda: raw.call("DescribeDtsJobDetail", {"DtsJobId": job}),
             lambda d: d.get("Status") in {"Normal", "Abnormal", "PrecheckFailed"}, timeout=60, what="Normal")
    assert d["Status"] == "Normal", dump(d)
    group = raw.call("CreateConsumerChannel", {"DtsJobId": job, "ConsumerGroupName": "reader",
                                               "ConsumerGroupUserName": "reader", "ConsumerGroupPassword": PASSWORD})
    group_id = group.get("ConsumerGroupID") or group.get("ConsumerGroupId")
    d = raw.call("DescribeDtsJobDetail", {"DtsJobId": job})
    return job, group_id, d["SubscriptionHost"]["PrivateHost"], d["SubscribeTopic"]


def kafka_python_consumer(host, topic, group_id, password=PASSWORD):
    return kafka.KafkaConsumer(
        topic, bootstrap_servers=host, group_id=group_id, security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN", sasl_plain_username=f"reader-{group_id}", sasl_plain_password=password,
        auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
        heartbeat_interval_ms=1000, max_poll_interval_ms=10000, consumer_timeout_ms=20000)


def take(consumer, n, timeout=30):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    return got


def test_stock_kafka_clients_consume_the_changes_in_order_and_resume(raw, mysql, sub_db):
    job, group_id, host, topic = subscription(raw, mysql, sub_db)
    mysql_exec(f"USE `{sub_db}`; INSERT INTO orders VALUES (1, 'one'); UPDATE orders SET note = 'uno' WHERE id = 1;"
               "DELETE FROM orders WHERE id = 1; ALTER TABLE orders ADD COLUMN extra INT;")

    consumer = kafka_python_consumer(host, topic, group_id)
    try:
        records = take(consumer, 4)
        decoded = [decode(r.value) for r in records]
        assert [d["operation"] for d in decoded] == ["INSERT", "UPDATE", "DELETE", "DDL"], decoded
        assert [r.offset for r in records] == sorted(r.offset for r in records)
        assert decoded[0]["objectName"] == f"{sub_db}.orders"
        after = decoded[1]["afterImages"]
        assert [x["value"] for x in after] == ["1", b"uno"], after
        assert "ADD COLUMN extra" in decoded[3]["afterImages"]
        consumer.commit()
        committed = records[-1].offset + 1
    finally:
        consumer.close()

    channels = poll(lambda: raw.call("DescribeConsumerChannel", {"DtsJobId": job})["ConsumerChannels"],
                    lambda c: c and c[0].get("ConsumptionCheckpoint"), timeout=20, what="the consumption checkpoint")
    assert channels[0]["ConsumerGroupId"] == group_id, channels
    meta = raw.call("DescribeSubscriptionMeta", {"Sid": group_id, "SubMigrationJobIds": job})["SubscriptionMetaList"]
    assert [(m["Sid"], m["Topic"], m["DProxyUrl"]) for m in meta] == [(group_id, topic, host)], meta
    assert int(meta[0]["Checkpoint"]) > 0 and sub_db in meta[0]["DBList"], meta

    mysql_exec(f"INSERT INTO `{sub_db}`.orders (id, note) VALUES (2, 'two')")
    c = confluent_kafka.Consumer({
        "bootstrap.servers": host, "group.id": group_id, "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN", "sasl.username": f"reader-{group_id}", "sasl.password": PASSWORD,
        "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 10000,
    })
    try:
        c.subscribe([topic])
        msg, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and not msg.error():
                break
        assert msg is not None and not msg.error(), msg and msg.error()
        # Resumed exactly after the committed offset: the new INSERT, nothing older.
        assert msg.offset() == committed, (msg.offset(), committed)
        d = decode(msg.value())
        # The column added by the captured ALTER arrives too, as NULL.
        values = [x["value"] if x else None for x in d["afterImages"]]
        assert d["operation"] == "INSERT" and values == ["2", b"two", None], d
    finally:
        c.close()
    raw.call("DeleteDtsJob", {"DtsJobId": job})


def consume_all(host, topic, group_id, user, password=PASSWORD, n=1, timeout=30):
    consumer = kafka.KafkaConsumer(
        topic, bootstrap_servers=host, group_id=group_id, security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN", sasl_plain_username=f"{user}-{group_id}", sasl_plain_password=password,
        auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
        heartbeat_interval_ms=1000, max_poll_interval_ms=10000)
    try:
        return take(consumer, n, timeout)
    finally:
        consumer.close()


def test_two_groups_each_get_everything_and_a_wrong_password_is_refused(raw, mysql, sub_db):
    job, first, host, topic = subscription(raw, mysql, sub_db)
    second = raw.call("CreateConsumerChannel", {"DtsJobId": job, "ConsumerGroupName": "second",
                                                "ConsumerGroupUserName": "second", "ConsumerGroupPassword": PASSWORD})
    second = second.get("ConsumerGroupID") or second.get("ConsumerGroupId")
    mysql_exec(f"USE `{sub_db}`; INSERT INTO orders VALUES (1, 'a'), (2, 'b'); DELETE FROM orders WHERE id = 2;")
    a = consume_all(host, topic, first, "reader", n=3)
    b = consume_all(host, topic, second, "second", n=3)
    assert [r.offset for r in a] == [r.offset for r in b] and len(a) == 3, (a, b)
    assert [decode(r.value)["operation"] for r in b] == ["INSERT", "INSERT", "DELETE"]
    # A wrong password, or another group's credentials for this group id: no login, nothing read.
    with pytest.raises(Exception):
        kafka.KafkaConsumer(topic, bootstrap_servers=host, group_id=first, security_protocol="SASL_PLAINTEXT",
                            sasl_mechanism="PLAIN", sasl_plain_username=f"reader-{first}",
                            sasl_plain_password="Wrong-passw0rd", request_timeout_ms=3000,
                            api_version_auto_timeout_ms=3000)
    raw.call("DeleteDtsJob", {"DtsJobId": job})


def test_seek_by_time_with_list_offsets_and_modify_consumption_timestamp(raw, mysql, sub_db):
    job, group_id, host, topic = subscription(raw, mysql, sub_db)
    mysql_exec(f"INSERT INTO `{sub_db}`.orders VALUES (1, 'early')")
    time.sleep(2.2)
    middle = int(time.time())
    time.sleep(1.2)
    mysql_exec(f"INSERT INTO `{sub_db}`.orders VALUES (2, 'late')")
    records = consume_all(host, topic, group_id, "reader", n=2)
    assert len(records) == 2
    # ListOffsets by time (offsets_for_times): the first record at or after `middle` is the late one.
    consumer = kafka.KafkaConsumer(bootstrap_servers=host, group_id=group_id, security_protocol="SASL_PLAINTEXT",
                                   sasl_mechanism="PLAIN", sasl_plain_username=f"reader-{group_id}",
                                   sasl_plain_password=PASSWORD)
    try:
        tp = kafka.TopicPartition(topic, 0)
        found = consumer.offsets_for_times({tp: middle * 1000})[tp]
        assert found is not None and found.offset == records[1].offset, (found, records)
    finally:
        consumer.close()
    # ModifyConsumptionTimestamp: the group starts again from that time.
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(middle))
    r = raw.call("ModifyConsumptionTimestamp", {"SubscriptionInstanceId": job, "ConsumptionTimestamp": stamp})
    assert is_true(r.get("Success")), r
    again = consume_all(host, topic, group_id, "reader", n=1)
    assert [x.offset for x in again][:1] == [records[1].offset], (again, records)
    raw.call("DeleteDtsJob", {"DtsJobId": job})


def test_kill_9_during_capture_loses_and_repeats_nothing(server_factory, mysql, sub_db):
    srv = server_factory()
    raw = srv.create_access_key("killcap").client("sdk-acs3")
    job, group_id, host, topic = subscription(raw, mysql, sub_db)
    stop = time.monotonic() + 4
    i = 0
    killed = False
    while time.monotonic() < stop:
        i += 1
        mysql_exec(f"INSERT INTO `{sub_db}`.orders VALUES ({i}, 'n{i}')")
        if not killed and time.monotonic() > stop - 2.5:
            srv.proc.kill()  # while capturing
            srv.proc.wait(timeout=10)
            killed = True
    srv.start()
    d = raw.call("DescribeDtsJobDetail", {"DtsJobId": job})
    host = d["SubscriptionHost"]["PrivateHost"]  # the restarted endpoint's port
    records = consume_all(host, topic, group_id, "reader", n=i, timeout=60)
    ids = [int(decode(r.value)["afterImages"][0]["value"]) for r in records]
    assert ids == list(range(1, i + 1)), ids
    assert [r.offset for r in records] == list(range(records[0].offset, records[0].offset + i))
    raw.call("DeleteDtsJob", {"DtsJobId": job})


def test_a_postgresql_source_is_captured_and_consumed(raw, pg):
    db = "kcpg_" + secrets.token_hex(4)
    pg_exec(f"CREATE DATABASE {db}")
    try:
        pg_exec("CREATE TABLE orders (id int PRIMARY KEY, note text)", db=db)
        job = create_instance(raw, "SUBSCRIBE")["JobId"]
        r = raw.call("ConfigureSubscription", {
            "DtsJobId": job, "DtsJobName": "pg consume", "RegionId": REGION,
            "SourceEndpointInstanceType": "OTHER", "SourceEndpointEngineName": "PostgreSQL",
            "SourceEndpointIP": pg.host, "SourceEndpointPort": str(pg.port), "SourceEndpointDatabaseName": db,
            "SourceEndpointUserName": pg.user, "SourceEndpointPassword": pg.password,
            "DbList": json.dumps({"public": {"name": "public", "all": True}}),
            "SubscriptionInstanceNetworkType": "classic",
        })
        assert is_true(r.get("Success")), r
        raw.call("StartDtsJob", {"DtsJobId": job})
        d = poll(lambda: raw.call("DescribeDtsJobDetail", {"DtsJobId": job}),
                 lambda d: d.get("Status") in {"Normal", "Abnormal", "PrecheckFailed"}, timeout=60, what="Normal")
        assert d["Status"] == "Normal", dump(d)
        group = raw.call("CreateConsumerChannel", {"DtsJobId": job, "ConsumerGroupName": "pg",
                                                   "ConsumerGroupUserName": "reader", "ConsumerGroupPassword": PASSWORD})
        group_id = group.get("ConsumerGroupID") or group.get("ConsumerGroupId")
        d = raw.call("DescribeDtsJobDetail", {"DtsJobId": job})
        pg_exec("INSERT INTO orders VALUES (1, 'one'); UPDATE orders SET note = 'uno' WHERE id = 1;"
                "DELETE FROM orders WHERE id = 1;", db=db)
        records = consume_all(d["SubscriptionHost"]["PrivateHost"], d["SubscribeTopic"], group_id, "reader", n=3)
        decoded = [decode(r.value) for r in records]
        assert [x["operation"] for x in decoded] == ["INSERT", "UPDATE", "DELETE"], decoded
        assert decoded[0]["source"]["sourceType"] == "PostgreSQL", decoded[0]
        assert decoded[1]["afterImages"][1]["value"] == b"uno", decoded[1]
        # Writes the subscription does not carry (another schema) must not pin the source's WAL: once the
        # server idles, the slot is confirmed up to the end of its WAL, not left at the last captured change.
        # (The DDL is captured: its transaction comes first, so the rows after it are all the slot could trail by.)
        pg_exec("CREATE SCHEMA other; CREATE TABLE other.noise (id int, pad text)", db=db)
        pg_exec("INSERT INTO other.noise SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g", db=db)
        behind = (f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                  f"FROM pg_replication_slots WHERE database = '{db}'")
        lag = poll(lambda: int(pg_exec(behind).stdout.strip() or -1), lambda n: 0 <= n < 1_000_000, timeout=30,
                   interval=0.5, what="the slot confirmed past the other schema's writes")
        assert 0 <= lag < 1_000_000, lag
        raw.call("DeleteDtsJob", {"DtsJobId": job})
    finally:
        pg_drop_database(db)
