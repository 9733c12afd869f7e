"""MySQL -> PostgreSQL and PostgreSQL -> MySQL synchronization through the official SDK under load: inserts,
updates and deletes (a keyless table included) run on the source during the full load and after it; OpenDTS
is killed with SIGKILL during the full load and again during incremental sync. Afterwards both sides hold the
same rows, none lost and none duplicated; deleting the task drops a PostgreSQL source's replication slot."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import threading
import time

import pytest

from conftest import PG_PASSWORD, PG_PORT, mysql_exec, pg_drop_database, pg_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump

SLOW_LOAD = ["--chunk-rows", "2000", "--full-load-workers", "2", "--batch-rows", "250"]

MYSQL_SOURCE = """
CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(12,2), note VARCHAR(40), updated DATETIME(6));
INSERT INTO orders SELECT seq, seq MOD 97, seq / 7, CONCAT('n', seq), '2026-01-01 00:00:00.5' FROM seq_1_to_60000;
CREATE TABLE log (a INT, b VARCHAR(10));
INSERT INTO log SELECT seq MOD 13, 'x' FROM seq_1_to_20000;
"""

PG_SOURCE = """
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note varchar(40), updated timestamp(6));
INSERT INTO orders SELECT g, g % 97, round(g / 7.0, 2), 'n' || g, '2026-01-01 00:00:00.5' FROM generate_series(1, 60000) g;
CREATE TABLE log (a int, b varchar(10));
ALTER TABLE log REPLICA IDENTITY FULL;
INSERT INTO log SELECT g % 13, 'x' FROM generate_series(1, 20000) g;
"""

MYSQL_ROWS = {
    "orders": "SELECT id, customer, IFNULL(amount, 'NULL'), IFNULL(note, 'NULL'), "
              "IFNULL(DATE_FORMAT(updated, '%Y-%m-%d %H:%i:%s.%f'), 'NULL') FROM {t} ORDER BY id",
    "log": "SELECT IFNULL(a, 'NULL'), IFNULL(b, 'NULL') FROM {t} ORDER BY a, b",
}
PG_ROWS = {
    "orders": "SELECT id, customer, coalesce(amount::text, 'NULL'), coalesce(note, 'NULL'), "
              "coalesce(to_char(updated, 'YYYY-MM-DD HH24:MI:SS.US'), 'NULL') FROM {t} ORDER BY id",
    "log": "SELECT coalesce(a::text, 'NULL'), coalesce(b, 'NULL') FROM {t} ORDER BY a, b",
}


def mysql_rows(db, table):
    out = mysql_exec(MYSQL_ROWS[table].format(t=f"`{db}`.`{table}`")).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]


def pg_rows(db, schema, table):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-X", "-q", "-A",
                          "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c",
                          PG_ROWS[table].format(t=f'"{schema}"."{table}"')],
                         capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PG_PASSWORD}, timeout=120)
    assert out.returncode == 0, out.stderr
    return [tuple(line.split("\t")) for line in out.stdout.splitlines()]


def mysql_writer(db, stop, errors):
    i = 0
    try:
        while not stop.is_set():
            i += 1
            mysql_exec(f"USE `{db}`; START TRANSACTION;"
                       f"INSERT INTO orders VALUES ({100000 + i}, {i % 97}, {i}.25, 'live', '2026-02-03 04:05:06.{i % 1000000:06d}');"
                       f"UPDATE orders SET amount = amount + 1, note = 'upd{i}' WHERE id % 500 = {i % 500};"
                       f"DELETE FROM orders WHERE id = {i * 11};"
                       f"INSERT INTO log VALUES ({i % 13}, 'live');"
                       f"UPDATE log SET b = 'u{i % 100}' WHERE a = {i % 13} LIMIT 1;"
                       f"DELETE FROM log WHERE a = {(i + 5) % 13} LIMIT 1;"
                       "COMMIT;")
    except Exception as e:  # surfaced by the test
        errors.append(e)


def pg_writer(db, stop, errors):
    i = 0
    try:
        while not stop.is_set():
            i += 1
            pg_exec("BEGIN;"
                    f"INSERT INTO orders VALUES ({100000 + i}, {i % 97}, {i}.25, 'live', '2026-02-03 04:05:06.{i % 1000000:06d}');"
                    f"UPDATE orders SET amount = amount + 1, note = 'upd{i}' WHERE id % 500 = {i % 500};"
                    f"DELETE FROM orders WHERE id = {i * 11};"
                    f"INSERT INTO log VALUES ({i % 13}, 'live');"
                    f"UPDATE log SET b = 'u{i % 100}' WHERE ctid IN (SELECT ctid FROM log WHERE a = {i % 13} LIMIT 1);"
                    f"DELETE FROM log WHERE ctid IN (SELECT ctid FROM log WHERE a = {(i + 5) % 13} LIMIT 1);"
                    "COMMIT;", db=db)
    except Exception as e:  # surfaced by the test
        errors.append(e)


@pytest.fixture
def pg_db(pg):
    name = "xs_" + secrets.token_hex(4)
    pg_exec(f"CREATE DATABASE {name}")
    yield name
    pg_drop_database(name)


@pytest.fixture
def my_db(mysql):
    name = "xs_" + secrets.token_hex(4)
    yield name
    mysql_exec(f"DROP DATABASE IF EXISTS `{name}`", check=False)


def endpoint(prefix, engine, host, port, user, password, db=None):
    p = {f"{prefix}EndpointInstanceType": "OTHER", f"{prefix}EndpointEngineName": engine,
         f"{prefix}EndpointIP": host, f"{prefix}EndpointPort": str(port),
         f"{prefix}EndpointUserName": user, f"{prefix}EndpointPassword": password}
    if db:
        # The API spells it DataBaseName on the destination side (as the seeds do).
        p[f"{prefix}EndpointDataBaseName" if prefix == "Destination" else f"{prefix}EndpointDatabaseName"] = db
    return p


def detail(raw, job):
    return raw.call("DescribeDtsJobDetail", {"DtsJobId": job})


def slot_count(job):
    name = "opendts_" + re.sub(r"[^a-z0-9_]", "_", job.lower())
    return pg_exec(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{name[:63]}'").stdout.strip()


@pytest.mark.parametrize("direction", ["mysql_to_pg", "pg_to_mysql"])
def test_cross_engine_sync_under_load_survives_kill_9(server_factory, mysql, pg, pg_db, my_db, direction):
    srv = server_factory(SLOW_LOAD)
    raw = srv.create_access_key("xsync").client("sdk-acs3")
    mysql_ep = endpoint("", "MySQL", mysql.host, mysql.port, mysql.user, mysql.password)
    if direction == "mysql_to_pg":
        mysql_exec(f"CREATE DATABASE `{my_db}`; USE `{my_db}`; {MYSQL_SOURCE}")
        src = {k.replace("Endpoint", "SourceEndpoint", 1): v for k, v in mysql_ep.items()}
        dst = endpoint("Destination", "PostgreSQL", pg.host, pg.port, pg.user, pg.password, pg_db)
        db_list = {my_db: {"name": "shop", "all": True}}
        writer_args, writer = (my_db,), mysql_writer
        source_rows = lambda t: mysql_rows(my_db, t)
        dest_rows = lambda t: pg_rows(pg_db, "shop", t)
        engines = ("MySQL", "PostgreSQL")
    else:
        pg_exec(PG_SOURCE, db=pg_db)
        src = endpoint("Source", "PostgreSQL", pg.host, pg.port, pg.user, pg.password, pg_db)
        dst = {k.replace("Endpoint", "DestinationEndpoint", 1): v for k, v in mysql_ep.items()}
        db_list = {"public": {"name": my_db, "all": True}}
        writer_args, writer = (pg_db,), pg_writer
        source_rows = lambda t: pg_rows(pg_db, "public", t)
        dest_rows = lambda t: mysql_rows(my_db, t)
        engines = ("PostgreSQL", "MySQL")

    def dest_orders():
        try:
            return len(dest_rows("orders"))
        except (AssertionError, RuntimeError):
            return -1

    stop, errors = threading.Event(), []
    t = threading.Thread(target=writer, args=(*writer_args, stop, errors))
    t.start()
    try:
        job = create_instance(raw, "SYNC", src=engines[0], dst=engines[1])["JobId"]
        params = {"DtsJobId": job, "DtsJobName": "xsync", "JobType": "SYNC", "RegionId": REGION, **src, **dst,
                  "StructureInitialization": True, "DataInitialization": True, "DataSynchronization": True,
                  "DbList": json.dumps(db_list)}
        r = raw.call("ConfigureDtsJob", params)
        assert is_true(r.get("Success")), r
        raw.call("StartDtsJob", {"DtsJobId": job})
        poll(dest_orders, lambda n: n > 0, timeout=90, interval=0.02, what="the full load to copy its first rows")
        srv.proc.kill()
        srv.proc.wait(timeout=10)
        time.sleep(0.5)
        srv.start()
        d = poll(lambda: detail(raw, job), lambda d: d.get("Status") in {"Synchronizing", "Failed"}, timeout=180,
                 what="synchronizing")
        assert d["Status"] == "Synchronizing", dump(d)
        time.sleep(1.0)
        srv.proc.kill()
        srv.proc.wait(timeout=10)
        time.sleep(1.0)
        srv.start()
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, errors
    marker = 900000 + secrets.randbelow(99999)
    if direction == "mysql_to_pg":
        mysql_exec(f"INSERT INTO `{my_db}`.orders (id, customer) VALUES ({marker}, 1)")
    else:
        pg_exec(f"INSERT INTO orders (id, customer) VALUES ({marker}, 1)", db=pg_db)
    poll(lambda: any(r[0] == str(marker) for r in dest_rows("orders")), lambda ok: ok, timeout=90, interval=0.2,
         what=f"the marker row; {dump(detail(raw, job))}")
    for table in ("orders", "log"):
        a, b = source_rows(table), dest_rows(table)
        assert a == b, f"{table}: {len(a)} source rows, {len(b)} destination rows; first difference: " + \
            str(next(((x, y) for x, y in zip(a, b) if x != y), None))
    raw.call("DeleteDtsJob", {"DtsJobId": job})
    if direction == "pg_to_mysql":
        poll(lambda: slot_count(job), lambda n: n == "0", timeout=30, interval=0.2, what="the slot to be dropped")
