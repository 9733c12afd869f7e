"""PostgreSQL -> PostgreSQL synchronization through the official SDK: schema + full load in the replication
slot's exported snapshot + pgoutput incremental, with inserts, updates (TOASTed values left unchanged
included), deletes, a keyless table and DDL (a new column, a new table) during the full load; afterwards every table is identical
row by row. kill -9 during the full load and during incremental, restart: identical again, nothing
duplicated. DeleteDtsJob drops the job's replication slot and publication."""

from __future__ import annotations

import json
import secrets
import threading
import time

import pytest

from conftest import pg_drop_database, pg_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump

SLOW_LOAD = ["--chunk-rows", "2000", "--full-load-workers", "2", "--batch-rows", "250"]

SOURCE_SCHEMA = """
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note varchar(40),
                     updated timestamptz, doc jsonb, big text, code char(12), bits bit(6));
INSERT INTO orders
SELECT g, g % 97, g / 7.0, 'n' || g, '2026-01-01 00:00:00.5+00', jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)),
       CASE WHEN g % 1000 = 0 THEN (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 300) i) END,
       'c' || g, (g % 64)::bit(6)
FROM generate_series(1, 60000) g;
CREATE TABLE log (a int, b varchar(10));
ALTER TABLE log REPLICA IDENTITY FULL;
INSERT INTO log SELECT g % 13, 'x' FROM generate_series(1, 40000) g;
CREATE INDEX orders_by_customer ON orders (customer, updated DESC);
CREATE SEQUENCE invoice_no START 1000;
SELECT nextval('invoice_no') FROM generate_series(1, 5);
CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 1000;
"""

TABLES = {"orders": "id", "log": "a, b", "added": "k"}


def slot_name(job: str) -> str:
    name = "opendts_" + "".join(c if c.isalnum() or c == "_" else "_" for c in job.lower())
    return name[:63]


@pytest.fixture
def pg_dbs(pg):
    """A fresh source database with data and an empty destination database."""
    src, dst = "pgs_" + secrets.token_hex(4), "pgd_" + secrets.token_hex(4)
    pg_exec(f"CREATE DATABASE {src}")
    pg_exec(f"CREATE DATABASE {dst}")
    pg_exec(SOURCE_SCHEMA, db=src)
    yield src, dst
    for db in (src, dst):
        pg_drop_database(db)


def pg_params(job, pg, src, dst, **extra):
    p = {
        "DtsJobId": job, "DtsJobName": "pg sync", "JobType": "SYNC", "RegionId": REGION,
        "SourceEndpointInstanceType": "OTHER", "SourceEndpointEngineName": "PostgreSQL",
        "SourceEndpointIP": pg.host, "SourceEndpointPort": str(pg.port), "SourceEndpointDatabaseName": src,
        "SourceEndpointUserName": pg.user, "SourceEndpointPassword": pg.password,
        "DestinationEndpointInstanceType": "OTHER", "DestinationEndpointEngineName": "PostgreSQL",
        "DestinationEndpointIP": pg.host, "DestinationEndpointPort": str(pg.port), "DestinationEndpointDataBaseName": dst,
        "DestinationEndpointUserName": pg.user, "DestinationEndpointPassword": pg.password,
        "StructureInitialization": True, "DataInitialization": True, "DataSynchronization": True,
        "DbList": json.dumps({"public": {"name": "public", "all": True}}),
    }
    p.update(extra)
    return p


def start_sync(raw, pg, src, dst):
    job = create_instance(raw, "SYNC", src="PostgreSQL", dst="PostgreSQL")["JobId"]
    r = raw.call("ConfigureDtsJob", pg_params(job, pg, src, dst))
    assert is_true(r.get("Success")), r
    raw.call("StartDtsJob", {"DtsJobId": job})
    return job


def detail(raw, job):
    return raw.call("DescribeDtsJobDetail", {"DtsJobId": job})


def wait_synchronizing(raw, job, timeout=180):
    d = poll(lambda: detail(raw, job), lambda d: d.get("Status") in {"Synchronizing", "Failed", "PrecheckFailed"},
             timeout=timeout, what="synchronizing")
    assert d["Status"] == "Synchronizing", dump(d)


def writer(src, stop, errors):
    """Inserts, updates (some touching rows with TOASTed values), deletes; the keyless table too."""
    i = 0
    try:
        while not stop.is_set():
            i += 1
            pg_exec("BEGIN;"
                    f"INSERT INTO orders VALUES ({100000 + i}, {i % 97}, {i}.25, 'live', now(), '{{\"live\": {i}}}', NULL);"
                    f"UPDATE orders SET amount = amount + 1, note = 'upd{i}', code = 'code-{i}', bits = B'101010' "
                    f"WHERE id % 1000 = {i % 1000} OR id % 997 = {i % 997};"
                    f"DELETE FROM orders WHERE id = {i * 11};"
                    f"INSERT INTO log VALUES ({i % 13}, 'live');"
                    f"UPDATE log SET b = 'u{i % 100}' WHERE ctid IN (SELECT ctid FROM log WHERE a = {i % 13} LIMIT 1);"
                    f"DELETE FROM log WHERE ctid IN (SELECT ctid FROM log WHERE a = {(i + 5) % 13} LIMIT 1);"
                    "COMMIT;", db=src)
            if i == 15:
                # DDL while the full load runs: captured by the event trigger, replayed in order.
                pg_exec("ALTER TABLE orders ADD COLUMN flag smallint NOT NULL DEFAULT 1;"
                        "CREATE TABLE added (k int PRIMARY KEY, v text); INSERT INTO added VALUES (1, 'one');", db=src)
            if i == 30:
                pg_exec("UPDATE added SET v = 'uno'; INSERT INTO added VALUES (2, 'two'); UPDATE orders SET flag = 2 "
                        "WHERE id % 1000 = 7;", db=src)
    except Exception as e:  # surfaced by the test
        errors.append(e)


def fingerprint(db, table, order):
    out = pg_exec(f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY {order}), '')) FROM {table} t", db=db)
    return out.stdout.strip()


def assert_identical(src, dst):
    for table, order in TABLES.items():
        a, b = fingerprint(src, table, order), fingerprint(dst, table, order)
        assert a == b, f"{table}: source {a} destination {b}"


def settle(raw, job, src, dst):
    """Writes a marker row on the source and waits until it is on the destination."""
    marker = 900000 + secrets.randbelow(99999)
    pg_exec(f"INSERT INTO orders (id, customer) VALUES ({marker}, 1)", db=src)
    poll(lambda: pg_exec(f"SELECT count(*) FROM orders WHERE id = {marker}", db=dst, check=False).stdout.strip(),
         lambda n: n == "1", timeout=60, interval=0.1,
         what=f"marker {marker} to reach the destination; {dump(detail(raw, job))}")


def slot_exists(src, job):
    return pg_exec(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot_name(job)}'").stdout.strip() == "1"


def test_pg_to_pg_changes_during_the_full_load_arrive_and_delete_drops_the_slot(server_factory, pg, pg_dbs):
    src, dst = pg_dbs
    srv = server_factory(SLOW_LOAD)
    raw = srv.create_access_key("pgsync").client("sdk-acs3")
    stop, errors = threading.Event(), []
    t = threading.Thread(target=writer, args=(src, stop, errors))
    t.start()
    try:
        job = start_sync(raw, pg, src, dst)
        wait_synchronizing(raw, job)
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, errors
    settle(raw, job, src, dst)
    assert_identical(src, dst)
    item = raw.call("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC", "DtsJobId": job})["DtsJobList"][0]
    assert item["StructureInitializationStatus"]["Status"] == "Finished", dump(item)
    assert item["DataInitializationStatus"]["Status"] == "Finished", dump(item)
    assert item["DataSynchronizationStatus"]["Status"] in {"Catched", "Migrating"}, dump(item)
    # The primary key, the index, the sequence (at the source's value) and the view came along,
    # and the TOASTed values are intact.
    assert pg_exec("SELECT indexdef FROM pg_indexes WHERE indexname = 'orders_by_customer'", db=dst).stdout.strip() == \
        "CREATE INDEX orders_by_customer ON public.orders USING btree (customer, updated DESC)"
    assert pg_exec("SELECT nextval('invoice_no')", db=dst).stdout.strip() == "1005"
    assert fingerprint(dst, "big_orders", "id") == fingerprint(src, "big_orders", "id")
    assert pg_exec("SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'p'",
                   db=dst).stdout.strip() == "1"
    assert pg_exec("SELECT count(*) FROM orders WHERE length(big) = 9600", db=dst).stdout.strip() == \
        pg_exec("SELECT count(*) FROM orders WHERE length(big) = 9600", db=src).stdout.strip()

    assert slot_exists(src, job)
    raw.call("DeleteDtsJob", {"DtsJobId": job})
    poll(lambda: slot_exists(src, job), lambda exists: not exists, timeout=30, interval=0.2,
         what="the replication slot to be dropped after DeleteDtsJob")
    assert pg_exec(f"SELECT count(*) FROM pg_publication WHERE pubname = '{slot_name(job)}'", db=src).stdout.strip() == "0"


def count(db, table):
    out = pg_exec(f"SELECT count(*) FROM {table}", db=db, check=False)
    return int(out.stdout.strip()) if out.returncode == 0 else -1


def test_pg_kill_9_during_full_load_and_incremental_loses_and_duplicates_nothing(server_factory, pg, pg_dbs):
    src, dst = pg_dbs
    srv = server_factory(SLOW_LOAD)
    raw = srv.create_access_key("pgkill").client("sdk-old")  # the official v1 SDK
    stop, errors = threading.Event(), []
    t = threading.Thread(target=writer, args=(src, stop, errors))
    t.start()
    try:
        job = start_sync(raw, pg, src, dst)
        # Some chunks of orders are in, the keyless log (one chunk) is not yet: after the restart it
        # must be read in a snapshot of its own whose WAL position the stream then skips.
        poll(lambda: count(dst, "orders"), lambda n: n > 0, timeout=60, interval=0.02,
             what="the full load to copy its first rows")
        srv.proc.kill()  # in the middle of the full load: the slot's exported snapshot dies with it
        srv.proc.wait(timeout=10)
        time.sleep(1.0)
        srv.start()
        wait_synchronizing(raw, job)
        time.sleep(1.0)
        srv.proc.kill()  # in the middle of applying the stream
        srv.proc.wait(timeout=10)
        time.sleep(1.0)
        srv.start()
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, errors
    settle(raw, job, src, dst)
    assert_identical(src, dst)
    # A stopped task never reads its slot again: the slot goes (it would keep WAL forever).
    raw.call("StopDtsJob", {"DtsJobId": job})
    poll(lambda: slot_exists(src, job), lambda exists: not exists, timeout=30, interval=0.2,
         what="the replication slot to be dropped after StopDtsJob")
    raw.call("DeleteDtsJob", {"DtsJobId": job})
