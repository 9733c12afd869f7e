"""MySQL -> MySQL migration through the API: schema migration and full data load between two MariaDB
servers, checked row by row; DbList renames, column subsets and filters; resume after suspend and after
kill -9 of the server during the full load, with no duplicate and no missing row."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from conftest import mysql_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump

TYPED_CREATE = """
CREATE TABLE typed (
  id INT PRIMARY KEY AUTO_INCREMENT,
  ti TINYINT, tu TINYINT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  dec65 DECIMAL(65,30), fl FLOAT, db DOUBLE,
  d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(6), yr YEAR,
  vc VARCHAR(64) CHARACTER SET utf8mb4, lat VARCHAR(16) CHARACTER SET latin1, tx TEXT,
  bin VARBINARY(16), bl BLOB, e ENUM('a','b','c'), st SET('x','y','z'), bt BIT(10), js JSON,
  g GEOMETRY NULL, KEY k_vc (vc)
) ENGINE=InnoDB;
"""

TYPED_ROWS = """
INSERT INTO typed VALUES
 (1, -128, 255, -9223372036854775808, 18446744073709551615,
  '-99999999999999999999999999999999999.999999999999999999999999999999', 3.40282e38, -1.7976931348623157e308,
  '0000-00-00', '0000-00-00 00:00:00', NULL, '-838:59:59.000000', 2155,
  '𝄞 emoji 😀 and ünïcode', 'caf\\xe9', REPEAT('t', 3000), X'000102FF', X'00FF00FF', 'c', 'x,z', b'1010101010',
  '{"a": [1, 2.5, "s"], "b": null}', ST_GeomFromText('POINT(1 2)')),
 (2, 127, 0, 9223372036854775807, 0, '0.000000000000000000000000000001', -0.0, 1e-300,
  '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '838:59:59.999999', 1901,
  '', '', '', X'', X'', 'a', '', b'0', '[]', NULL),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""

SOURCE_TABLES = TYPED_CREATE + TYPED_ROWS + """
CREATE TABLE composite (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT, PRIMARY KEY (a, b));
INSERT INTO composite SELECT seq DIV 10, CONCAT('k', seq MOD 10), seq FROM seq_1_to_5000;
CREATE TABLE nokey (a INT, b VARCHAR(20));
INSERT INTO nokey SELECT seq MOD 7, 'dup' FROM seq_1_to_3000;
CREATE TABLE uniq (u INT NOT NULL, w INT, UNIQUE KEY (u));
INSERT INTO uniq SELECT seq, seq * 2 FROM seq_1_to_2000;
CREATE VIEW small_typed AS SELECT id, vc FROM typed WHERE id < 3;
"""


def target_exec(mysql_target, sql, **kw):
    return mysql_exec(sql, port=mysql_target.port, password=mysql_target.password, **kw)


@pytest.fixture
def source_db(mysql):
    name = "mig_" + secrets.token_hex(4)
    mysql_exec(f"SET sql_mode=''; CREATE DATABASE `{name}`; USE `{name}`; {SOURCE_TABLES}")
    yield name
    mysql_exec(f"DROP DATABASE IF EXISTS `{name}`", check=False)


@pytest.fixture
def target_cleanup(mysql_target):
    names = []
    yield names
    for n in names:
        target_exec(mysql_target, f"DROP DATABASE IF EXISTS `{n}`", check=False)


# Numbers and times compare as their full text (HEX() would round a FLOAT or DECIMAL to an integer);
# strings, binaries, BIT, JSON and GEOMETRY as the hex of their bytes.
AS_TEXT = ("tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double", "date",
           "datetime", "timestamp", "time", "year")


def rows(port_exec, db, table, order):
    """Every row, every column exactly, in key order."""
    text_types = ", ".join(f"'{t}'" for t in AS_TEXT)
    cols = port_exec(f"SELECT GROUP_CONCAT(IF(DATA_TYPE IN ({text_types}), CONCAT('CAST(`', COLUMN_NAME, '` AS CHAR)'), "
                     f"CONCAT('HEX(`', COLUMN_NAME, '`)')) ORDER BY ORDINAL_POSITION) "
                     f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='{db}' AND TABLE_NAME='{table}'").stdout.strip()
    return port_exec(f"SET time_zone='+00:00'; SELECT {cols} FROM `{db}`.`{table}` ORDER BY {order}").stdout


def checksum(port_exec, db, table):
    return port_exec(f"CHECKSUM TABLE `{db}`.`{table}` EXTENDED").stdout.split()[-1]


def assert_identical(mysql_target, src_db, dst_db, tables):
    """Row by row (exact text or bytes of every value), then the server's checksum of the stored rows,
    which also catches a FLOAT that prints the same but differs in its last bit."""
    src_exec = lambda q: mysql_exec(q)  # noqa: E731
    dst_exec = lambda q: target_exec(mysql_target, q)  # noqa: E731
    for table, order in tables.items():
        src = rows(src_exec, src_db, table, order)
        dst = rows(dst_exec, dst_db, table, order)
        assert src.count("\n") > 0, f"source {table} is empty"
        assert src == dst, f"{table}: rows differ between source and destination"
        assert checksum(src_exec, src_db, table) == checksum(dst_exec, dst_db, table), f"{table}: checksums differ"


ALL_TABLES = {"typed": "id", "composite": "a, b", "nokey": "a, b", "uniq": "u"}


def migration_params(job_id, mysql, mysql_target, db_list, **extra):
    p = {
        "DtsJobId": job_id, "DtsJobName": "migration", "JobType": "MIGRATION", "RegionId": REGION,
        "SourceEndpointInstanceType": "OTHER", "SourceEndpointEngineName": "MySQL",
        "SourceEndpointIP": mysql.host, "SourceEndpointPort": str(mysql.port),
        "SourceEndpointUserName": mysql.user, "SourceEndpointPassword": mysql.password,
        "DestinationEndpointInstanceType": "OTHER", "DestinationEndpointEngineName": "MySQL",
        "DestinationEndpointIP": mysql_target.host, "DestinationEndpointPort": str(mysql_target.port),
        "DestinationEndpointUserName": mysql_target.user, "DestinationEndpointPassword": mysql_target.password,
        "StructureInitialization": True, "DataInitialization": True, "DataSynchronization": False,
        "DbList": json.dumps(db_list),
    }
    p.update(extra)
    return p


def start_migration(raw, mysql, mysql_target, db_list, **extra):
    job = create_instance(raw, "MIGRATION")["JobId"]
    r = raw.call("ConfigureDtsJob", migration_params(job, mysql, mysql_target, db_list, **extra))
    assert is_true(r.get("Success")), r
    raw.call("StartDtsJob", {"DtsJobId": job})
    return job


def detail(raw, job):
    return raw.call("DescribeDtsJobDetail", {"DtsJobId": job})


def wait_finished(raw, job, timeout=120):
    d = poll(lambda: detail(raw, job), lambda d: d.get("Status") in {"Finished", "Failed", "PrecheckFailed"},
             timeout=timeout, what=f"job {job} to finish")
    assert d["Status"] == "Finished", dump(d)
    return d


def test_schema_and_full_load_copy_every_value_exactly(raw, mysql, mysql_target, source_db, target_cleanup):
    dest = source_db + "_copy"
    target_cleanup.append(dest)
    job = start_migration(raw, mysql, mysql_target, {source_db: {"name": dest, "all": True}})
    d = wait_finished(raw, job)
    assert d["StructureInitializationStatus"]["Status"] == "Finished", dump(d)
    assert d["StructureInitializationStatus"]["Progress"] == "6/6", dump(d)  # a database, 4 tables and a view
    full = d["DataInitializationStatus"]
    assert (full["Status"], full["Percent"], full["Progress"]) == ("Finished", "100", str(3 + 5000 + 3000 + 2000))
    assert_identical(mysql_target, source_db, dest, ALL_TABLES)
    # Structure: keys, indexes and the view came along.
    ddl = target_exec(mysql_target, f"SHOW CREATE TABLE `{dest}`.`composite`").stdout
    assert "PRIMARY KEY (`a`,`b`)" in ddl, ddl
    assert "KEY `k_vc` (`vc`)" in target_exec(mysql_target, f"SHOW CREATE TABLE `{dest}`.`typed`").stdout
    assert target_exec(mysql_target, f"SELECT COUNT(*) FROM `{dest}`.`small_typed`").stdout.strip() == "2"
    # And the checksums the server computes over the stored bytes agree.
    for t in ALL_TABLES:
        src = mysql_exec(f"CHECKSUM TABLE `{source_db}`.`{t}`").stdout.split()[-1]
        dst = target_exec(mysql_target, f"CHECKSUM TABLE `{dest}`.`{t}`").stdout.split()[-1]
        assert src == dst, t


def test_dblist_renames_column_subsets_and_filters(raw, mysql, mysql_target, source_db, target_cleanup):
    dest = source_db + "_sel"
    target_cleanup.append(dest)
    db_list = {source_db: {"name": dest, "all": False, "Table": {
        "uniq": {"name": "uniq_renamed", "all": True, "filter": "u > 1500 AND w <> 3010"},
        "composite": {"name": "composite", "all": False,
                      "column": {"a": {"name": "a"}, "b": {"name": "b"}, "v": {"name": "value"}}},
    }}}
    job = start_migration(raw, mysql, mysql_target, db_list)
    wait_finished(raw, job)
    tables = target_exec(mysql_target, f"SHOW TABLES FROM `{dest}`").stdout.split()
    assert sorted(tables) == ["composite", "uniq_renamed"], tables
    got = target_exec(mysql_target, f"SELECT COUNT(*), MIN(u), MAX(u) FROM `{dest}`.`uniq_renamed`").stdout.split()
    assert got == ["499", "1501", "2000"], got  # 500 rows above 1500, minus u=1505 (w=3010)
    cols = target_exec(mysql_target, f"SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM "
                                     f"information_schema.COLUMNS WHERE TABLE_SCHEMA='{dest}' AND TABLE_NAME='composite'").stdout.strip()
    assert cols == "a,b,value", cols
    src_sum = mysql_exec(f"SELECT SUM(v) FROM `{source_db}`.composite").stdout.strip()
    assert target_exec(mysql_target, f"SELECT SUM(value) FROM `{dest}`.composite").stdout.strip() == src_sum


@pytest.fixture
def big_source(mysql):
    name = "big_" + secrets.token_hex(4)
    mysql_exec(f"CREATE DATABASE `{name}`; USE `{name}`;"
               "CREATE TABLE k (id INT PRIMARY KEY, c CHAR(120), pad CHAR(60));"
               "INSERT INTO k SELECT seq, REPEAT(CHAR(65 + seq MOD 26), 120), 'p' FROM seq_1_to_120000;"
               "CREATE TABLE nk (x INT, y CHAR(30));"
               "INSERT INTO nk SELECT seq MOD 100, 'row' FROM seq_1_to_30000;")
    yield name
    mysql_exec(f"DROP DATABASE IF EXISTS `{name}`", check=False)


def done_chunks(mysql_target, job):
    out = target_exec(mysql_target, f"SELECT COUNT(*) FROM opendts_meta.full_load_chunks WHERE job_id LIKE '{job}/%'",
                      check=False)
    return int(out.stdout.strip() or 0) if out.returncode == 0 else 0


SLOW_LOAD = ["--chunk-rows", "2000", "--full-load-workers", "1", "--batch-rows", "200"]


def test_kill_9_during_full_load_resumes_without_duplicates_or_gaps(server_factory, mysql, mysql_target,
                                                                   big_source, target_cleanup):
    srv = server_factory(SLOW_LOAD)
    raw = srv.create_access_key("kill").client("sdk-v2")  # the official SDK, v1 signatures
    dest = big_source + "_copy"
    target_cleanup.append(dest)
    job = start_migration(raw, mysql, mysql_target, {big_source: {"name": dest, "all": True}})
    poll(lambda: done_chunks(mysql_target, job), lambda n: n >= 3, timeout=60, interval=0.05,
         what="some chunks to be committed")
    srv.proc.kill()  # kill -9: no graceful shutdown
    srv.proc.wait(timeout=10)
    before = done_chunks(mysql_target, job)
    assert before < 61 + 1, "the load finished before the kill; make the table bigger"
    srv.start()
    wait_finished(raw, job, timeout=180)
    assert_identical(mysql_target, big_source, dest, {"k": "id", "nk": "x, y"})
    counts = target_exec(mysql_target, f"SELECT (SELECT COUNT(*) FROM `{dest}`.k), (SELECT COUNT(*) FROM `{dest}`.nk)").stdout.split()
    assert counts == ["120000", "30000"], counts
    assert "resuming job after restart" in srv.log_text()


def test_suspend_then_start_resumes_the_full_load(server_factory, mysql, mysql_target, big_source, target_cleanup):
    srv = server_factory(SLOW_LOAD)
    raw = srv.create_access_key("suspend").raw
    dest = big_source + "_s"
    target_cleanup.append(dest)
    job = start_migration(raw, mysql, mysql_target, {big_source: {"name": dest, "all": True}})
    poll(lambda: done_chunks(mysql_target, job), lambda n: n >= 2, timeout=60, interval=0.05,
         what="some chunks to be committed")
    raw.call("SuspendDtsJob", {"DtsJobId": job})
    assert detail(raw, job)["Status"] == "Suspending"
    time.sleep(0.5)
    frozen = done_chunks(mysql_target, job)
    time.sleep(1.0)
    assert done_chunks(mysql_target, job) == frozen, "a suspended job kept writing"
    raw.call("StartDtsJob", {"DtsJobId": job})
    wait_finished(raw, job, timeout=180)
    assert_identical(mysql_target, big_source, dest, {"k": "id", "nk": "x, y"})


def test_dblist_table_names_may_be_patterns(raw, mysql, mysql_target, source_db, target_cleanup):
    dest = source_db + "_re"
    target_cleanup.append(dest)
    # `[cn]o.*` selects composite and nokey, not typed or uniq.
    job = start_migration(raw, mysql, mysql_target,
                          {source_db: {"name": dest, "all": False, "Table": {"[cn]o.*": {"all": True}}}})
    wait_finished(raw, job)
    tables = sorted(target_exec(mysql_target, f"SHOW TABLES FROM `{dest}`").stdout.split())
    assert tables == ["composite", "nokey"], tables
    assert_identical(mysql_target, source_db, dest, {"composite": "a, b", "nokey": "a, b"})
