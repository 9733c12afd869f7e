"""MySQL -> MySQL synchronization through the API between two MariaDB servers: schema + full load +
binlog incremental, with inserts, updates, deletes and DDL running during the full load; afterwards
every table is identical row by row. Then kill -9 of the server during incremental sync, and
suspend/resume: identical again, no duplicates, no gaps."""

from __future__ import annotations

import json
import secrets
import threading
import time

import pytest

from conftest import mysql_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump
from test_mysql_migration import TYPED_CREATE, TYPED_ROWS, assert_identical, migration_params, target_exec

SLOW_LOAD = ["--chunk-rows", "2000", "--full-load-workers", "2", "--batch-rows", "250"]


@pytest.fixture
def sync_source(mysql):
    name = "sync_" + secrets.token_hex(4)
    mysql_exec(f"CREATE DATABASE `{name}`; USE `{name}`;"
               "CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(12,2), "
               "note VARCHAR(40), updated DATETIME(6));"
               "INSERT INTO orders SELECT seq, seq MOD 97, seq / 7, CONCAT('n', seq), '2026-01-01 00:00:00.5' "
               "FROM seq_1_to_60000;"
               "CREATE TABLE log (a INT, b VARCHAR(10));"
               "INSERT INTO log SELECT seq MOD 13, 'x' FROM seq_1_to_5000;")
    yield name
    mysql_exec(f"DROP DATABASE IF EXISTS `{name}`", check=False)


def start_sync(raw, mysql, mysql_target, src, dest):
    job = create_instance(raw, "SYNC")["JobId"]
    params = migration_params(job, mysql, mysql_target, {src: {"name": dest, "all": True}},
                              JobType="SYNC", DataSynchronization=True, DtsJobName="sync")
    r = raw.call("ConfigureDtsJob", params)
    assert is_true(r.get("Success")), r
    raw.call("StartDtsJob", {"DtsJobId": job})
    return job


def detail(raw, job):
    return raw.call("DescribeDtsJobDetail", {"DtsJobId": job})


def wait_caught_up(raw, job, src, timeout=120):
    """Synchronizing, and the destination holds a marker written to the source just before."""
    d = poll(lambda: detail(raw, job), lambda d: d.get("Status") in {"Synchronizing", "Failed"},
             timeout=timeout, what="synchronizing")
    assert d["Status"] == "Synchronizing", dump(d)


def writer(src, stop, errors):
    """Inserts, updates, deletes and a few DDL statements until told to stop."""
    i = 0
    try:
        while not stop.is_set():
            i += 1
            mysql_exec(f"USE `{src}`; START TRANSACTION;"
                       f"INSERT INTO orders (id, customer, amount, note, updated) VALUES ({100000 + i}, {i % 97}, {i}.25, 'live', NOW(6));"
                       f"UPDATE orders SET amount = amount + 1, note = 'upd{i}' WHERE id % 500 = {i % 500};"
                       f"DELETE FROM orders WHERE id = {i * 11};"
                       f"INSERT INTO log VALUES ({i % 13}, 'live');"
                       "COMMIT;")
            if i == 15:
                mysql_exec(f"USE `{src}`; ALTER TABLE orders ADD COLUMN flag TINYINT NOT NULL DEFAULT 1;"
                           "CREATE TABLE added (k INT PRIMARY KEY, v TEXT); INSERT INTO added VALUES (1, 'one');")
            if i == 30:
                mysql_exec(f"USE `{src}`; UPDATE added SET v = 'uno'; DELETE FROM log WHERE a = 3 LIMIT 5;")
    except Exception as e:  # surfaced by the test
        errors.append(e)


def marker_arrived(mysql_target, dest, value):
    out = target_exec(mysql_target, f"SELECT COUNT(*) FROM `{dest}`.orders WHERE id = {value}", check=False)
    return out.returncode == 0 and out.stdout.strip() == "1"


def settle(raw, job, mysql_target, src, dest):
    """Writes a marker row on the source and waits until it is on the destination."""
    marker = 900000 + secrets.randbelow(99999)
    mysql_exec(f"INSERT INTO `{src}`.orders (id, customer, amount, note) VALUES ({marker}, 1, 1, 'marker')")
    poll(lambda: marker_arrived(mysql_target, dest, marker), lambda ok: ok, timeout=60, interval=0.1,
         what=f"marker {marker} to reach the destination; {dump(detail(raw, job))}")


TABLES = {"orders": "id", "log": "a, b", "added": "k"}


def test_changes_during_the_full_load_and_after_all_arrive(server_factory, mysql, mysql_target, sync_source):
    srv = server_factory(SLOW_LOAD)
    raw = srv.create_access_key("sync").client("sdk-acs3")  # the official SDK, ACS3 signatures
    dest = sync_source + "_copy"
    try:
        stop, errors = threading.Event(), []
        t = threading.Thread(target=writer, args=(sync_source, stop, errors))
        t.start()
        job = start_sync(raw, mysql, mysql_target, sync_source, dest)
        wait_caught_up(raw, job, sync_source)
        time.sleep(1.0)
        stop.set()
        t.join(timeout=30)
        assert not errors, errors
        settle(raw, job, mysql_target, sync_source, dest)
        assert_identical(mysql_target, sync_source, dest, TABLES)
        d = detail(raw, job)
        assert d["Status"] == "Synchronizing", dump(d)
        assert int(d["Checkpoint"]) > time.time() - 120, dump(d)
        # The SDK's DescribeDtsJobDetail model has no phase statuses; its DescribeDtsJobs model has.
        item = raw.call("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC", "DtsJobId": job})["DtsJobList"][0]
        assert item["DataInitializationStatus"]["Status"] == "Finished", dump(item)
        assert item["StructureInitializationStatus"]["Status"] == "Finished", dump(item)
        assert item["DataSynchronizationStatus"]["Status"] in {"Catched", "Migrating"}, dump(item)
    finally:
        target_exec(mysql_target, f"DROP DATABASE IF EXISTS `{dest}`", check=False)


def test_kill_9_during_incremental_then_restart_loses_and_duplicates_nothing(server_factory, mysql, mysql_target,
                                                                          sync_source):
    srv = server_factory(SLOW_LOAD)
    raw = srv.create_access_key("kill-inc").client("sdk-old")  # the official v1 SDK
    dest = sync_source + "_k"
    try:
        job = start_sync(raw, mysql, mysql_target, sync_source, dest)
        wait_caught_up(raw, job, sync_source)
        stop, errors = threading.Event(), []
        t = threading.Thread(target=writer, args=(sync_source, stop, errors))
        t.start()
        time.sleep(1.5)
        srv.proc.kill()  # in the middle of applying the stream
        srv.proc.wait(timeout=10)
        time.sleep(1.0)  # the source keeps changing while OpenDTS is down
        srv.start()
        time.sleep(1.0)
        stop.set()
        t.join(timeout=30)
        assert not errors, errors
        settle(raw, job, mysql_target, sync_source, dest)
        assert_identical(mysql_target, sync_source, dest, TABLES)
        # The keyless table proves no transaction was applied twice.
        src_n = mysql_exec(f"SELECT COUNT(*) FROM `{sync_source}`.log").stdout.strip()
        assert target_exec(mysql_target, f"SELECT COUNT(*) FROM `{dest}`.log").stdout.strip() == src_n
    finally:
        target_exec(mysql_target, f"DROP DATABASE IF EXISTS `{dest}`", check=False)


def test_suspend_and_resume_incremental(raw, mysql, mysql_target, sync_source):
    dest = sync_source + "_sr"
    try:
        job = start_sync(raw, mysql, mysql_target, sync_source, dest)
        wait_caught_up(raw, job, sync_source)
        raw.call("SuspendDtsJob", {"DtsJobId": job})
        assert detail(raw, job)["Status"] == "Suspending"
        mysql_exec(f"INSERT INTO `{sync_source}`.orders (id, customer) VALUES (777777, 7)")
        time.sleep(1.5)
        assert not marker_arrived(mysql_target, dest, 777777), "a suspended job kept applying changes"
        raw.call("StartDtsJob", {"DtsJobId": job})
        assert detail(raw, job)["Status"] in {"Synchronizing", "Initializing"}
        settle(raw, job, mysql_target, sync_source, dest)
        assert marker_arrived(mysql_target, dest, 777777)
        assert_identical(mysql_target, sync_source, dest, {"orders": "id", "log": "a, b"})
        raw.call("StopDtsJob", {"DtsJobId": job})
        assert detail(raw, job)["Status"] == "Finished"
    finally:
        target_exec(mysql_target, f"DROP DATABASE IF EXISTS `{dest}`", check=False)


def test_every_type_arrives_exactly_through_the_binlog(raw, mysql, mysql_target):
    src = "types_" + secrets.token_hex(4)
    dest = src + "_copy"
    mysql_exec(f"CREATE DATABASE `{src}`; USE `{src}`; {TYPED_CREATE}")
    try:
        job = start_sync(raw, mysql, mysql_target, src, dest)
        wait_caught_up(raw, job, src)
        # Inserted, updated and deleted after the full load: only the binlog carries them.
        mysql_exec(f"SET sql_mode=''; USE `{src}`; {TYPED_ROWS}"
                   "UPDATE typed SET vc = CONCAT(vc, ' ✓'), dec65 = -dec65, tm = '-01:02:03.000004', "
                   "bu = bu - 1, js = JSON_SET(js, '$.a', 7) WHERE id = 1;"
                   "UPDATE typed SET id = 10 WHERE id = 2;"
                   "INSERT INTO typed (id, vc) VALUES (4, 'gone'); DELETE FROM typed WHERE id = 4;")
        poll(lambda: target_exec(mysql_target, f"SELECT COUNT(*) FROM `{dest}`.typed WHERE id = 10", check=False).stdout.strip(),
             lambda n: n == "1", timeout=60, interval=0.1, what="the typed rows to arrive")
        time.sleep(0.5)
        assert_identical(mysql_target, src, dest, {"typed": "id"})
    finally:
        mysql_exec(f"DROP DATABASE IF EXISTS `{src}`", check=False)
        target_exec(mysql_target, f"DROP DATABASE IF EXISTS `{dest}`", check=False)


def test_a_lost_destination_is_retried_then_the_stream_resumes(raw, mysql, sync_source):
    """The destination goes away during incremental sync: the task shows Retrying with the error,
    and when the destination is back it resumes from its checkpoint with nothing lost."""
    import subprocess
    from conftest import REPO as REPO_ROOT, MySql, free_port

    port = free_port()
    # Not under pytest's tmp_path: the server runs as the mysql user, which cannot enter it.
    db_dir = f"/tmp/opendts-db/lost-dest-{port}"
    start = [str(REPO_ROOT / "scripts/db/start-mariadb.sh"), str(port), db_dir]
    stop = [str(REPO_ROOT / "scripts/db/stop-mariadb.sh"), str(port), db_dir]
    subprocess.run(["bash", *start], check=True, capture_output=True, env={**__import__("os").environ, "MARIADB_SERVER_ID": "7"})
    target = MySql("127.0.0.1", port, mysql.user, mysql.password)
    dest = sync_source + "_r"
    try:
        job = start_sync(raw, mysql, target, sync_source, dest)
        wait_caught_up(raw, job, sync_source)
        subprocess.run(["bash", *stop], check=True, capture_output=True)
        mysql_exec(f"INSERT INTO `{sync_source}`.orders (id, customer) VALUES (555001, 1)")
        d = poll(lambda: detail(raw, job), lambda d: d["RetryState"]["Retrying"], timeout=60, interval=0.2,
                 what="the task to retry")
        assert d["Status"] == "Retrying", dump(d)
        assert d["RetryState"]["ErrMessage"], dump(d)
        subprocess.run(["bash", *start], check=True, capture_output=True, env={**__import__("os").environ, "MARIADB_SERVER_ID": "7"})
        poll(lambda: detail(raw, job), lambda d: d["Status"] == "Synchronizing" and not d["RetryState"]["Retrying"],
             timeout=120, interval=0.5, what="the task to recover")
        settle(raw, job, target, sync_source, dest)
        assert marker_arrived(target, dest, 555001)
        assert_identical(target, sync_source, dest, TABLES_WITHOUT_ADDED)
    finally:
        subprocess.run(["bash", *stop], capture_output=True)
        subprocess.run(["rm", "-rf", db_dir])


TABLES_WITHOUT_ADDED = {"orders": "id", "log": "a, b"}


def test_incremental_only_from_a_checkpoint_time(raw, mysql, mysql_target):
    """ConfigureDtsJob Checkpoint (Unix seconds) without schema or full load: changes committed at or
    after that time are applied, earlier ones are not."""
    src = "ckpt_" + secrets.token_hex(4)
    dest = src + "_copy"
    mysql_exec(f"CREATE DATABASE `{src}`; CREATE TABLE `{src}`.t (id INT PRIMARY KEY, v INT);"
               f"INSERT INTO `{src}`.t VALUES (1, 1);")
    target_exec(mysql_target, f"CREATE DATABASE `{dest}`; CREATE TABLE `{dest}`.t (id INT PRIMARY KEY, v INT);")
    try:
        time.sleep(1.1)
        checkpoint = int(time.time())
        time.sleep(1.1)
        mysql_exec(f"INSERT INTO `{src}`.t VALUES (2, 2); UPDATE `{src}`.t SET v = 10 WHERE id = 1;")
        job = create_instance(raw, "SYNC")["JobId"]
        params = migration_params(job, mysql, mysql_target, {src: {"name": dest, "all": True}}, JobType="SYNC",
                                  StructureInitialization=False, DataInitialization=False,
                                  DataSynchronization=True, Checkpoint=str(checkpoint))
        assert is_true(raw.call("ConfigureDtsJob", params).get("Success"))
        raw.call("StartDtsJob", {"DtsJobId": job})
        poll(lambda: target_exec(mysql_target, f"SELECT COUNT(*) FROM `{dest}`.t").stdout.strip(),
             lambda n: n == "2", timeout=60, interval=0.1, what="the changes after the checkpoint")
        got = target_exec(mysql_target, f"SELECT id, v FROM `{dest}`.t ORDER BY id").stdout.split()
        # Row 1 was inserted before the checkpoint (not copied); its UPDATE after it wrote the whole row.
        assert got == ["1", "10", "2", "2"], got
        raw.call("StopDtsJob", {"DtsJobId": job})
    finally:
        mysql_exec(f"DROP DATABASE IF EXISTS `{src}`", check=False)
        target_exec(mysql_target, f"DROP DATABASE IF EXISTS `{dest}`", check=False)
