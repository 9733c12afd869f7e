"""MySQL -> PostgreSQL and PostgreSQL -> MySQL through the official SDK: schema migration through the type
map (docs/type-mapping.md), full load and incremental sync. Every mapped type makes the round trip: rows
copied by the full load and rows inserted, updated and deleted afterwards (through the binlog / the
replication slot) read back the same on both sides, column by column. A column that cannot be mapped is a
precheck failure that names it."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess

import pytest

from conftest import PG_PASSWORD, PG_PORT, mysql_exec, pg_drop_database, pg_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump

# --------------------------------------------------------------------------------------------
# MySQL -> PostgreSQL
# --------------------------------------------------------------------------------------------

# (column, MySQL type, MySQL expression, PostgreSQL expression, comparison: exact, "json" or "float")
MY_COLUMNS = [
    ("ti", "tinyint", "CAST(ti AS CHAR)", "ti::text", None),
    ("tiu", "tinyint unsigned", "CAST(tiu AS CHAR)", "tiu::text", None),
    ("b1", "tinyint(1)", "CAST(b1 AS CHAR)", "b1::text", None),
    ("si", "smallint", "CAST(si AS CHAR)", "si::text", None),
    ("siu", "smallint unsigned", "CAST(siu AS CHAR)", "siu::text", None),
    ("mi", "mediumint", "CAST(mi AS CHAR)", "mi::text", None),
    ("miu", "mediumint unsigned", "CAST(miu AS CHAR)", "miu::text", None),
    ("i", "int", "CAST(i AS CHAR)", "i::text", None),
    ("iu", "int unsigned", "CAST(iu AS CHAR)", "iu::text", None),
    ("bi", "bigint", "CAST(bi AS CHAR)", "bi::text", None),
    ("biu", "bigint unsigned", "CAST(biu AS CHAR)", "biu::text", None),
    ("dc", "decimal(20,6)", "CAST(dc AS CHAR)", "dc::text", None),
    ("fl", "float", "CAST(fl AS CHAR)", "fl::text", "float"),
    ("db", "double", "CAST(db AS CHAR)", "db::text", "float"),
    ("bt", "bit(5)", "CAST(bt + 0 AS CHAR)", "bt::int::text", None),
    ("ch", "char(10)", "ch", "ch::text", None),
    ("vc", "varchar(50)", "vc", "vc", None),
    ("tx", "text", "MD5(tx)", "md5(tx)", None),
    ("bn", "binary(4)", "HEX(bn)", "upper(encode(bn, 'hex'))", None),
    ("vb", "varbinary(16)", "HEX(vb)", "upper(encode(vb, 'hex'))", None),
    ("bl", "blob", "HEX(bl)", "upper(encode(bl, 'hex'))", None),
    ("dt", "date", "CAST(dt AS CHAR)", "dt::text", None),
    ("dtm", "datetime(6)", "DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f')", "to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US')", None),
    ("ts", "timestamp(3) NULL", "DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f')",
     "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')", None),
    ("tm", "time", "CAST(TIME_TO_SEC(tm) AS CHAR)", "extract(epoch from tm)::bigint::text", None),
    ("yr", "year", "CAST(yr AS CHAR)", "yr::text", None),
    ("js", "json", "js", "js::text", "json"),
    ("en", "enum('a','b','c')", "en", "en", None),
    ("st", "set('x','y','z')", "st", "st", None),
]

MY_ROWS = [
    # id, then one SQL literal per column of MY_COLUMNS.
    (1, "-128, 0, 1, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, '-12345678901234.123456', "
        "-1.5, -2.25, b'00000', 'a', '', 'short', X'00000000', X'', X'', '1000-01-01', '1000-01-01 00:00:00.000000', "
        "'1970-01-01 00:00:01.000', '-838:59:59', 1901, '{}', 'a', ''"),
    (2, "127, 255, 0, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, "
        "18446744073709551615, '99999999999999.999999', 3.5, 1e300, b'11111', 'ten chars!', 'ünïcødé ✓ 漢字', "
        "REPEAT('long text ', 500), X'DEADBEEF', X'00FF00FF', X'0102030405', '9999-12-31', "
        "'9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999', '838:59:59', 2155, "
        "'{\"k\": [1, 2.5, \"s\", null, true], \"n\": {\"x\": 1}}', 'c', 'x,y,z'"),
    (3, "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"),
    (4, "5, 6, 1, 7, 8, 9, 10, 11, 12, 13, 14, '0.000001', 0.5, 0.1, b'10101', 'x', 'quote '' and \\\\ backslash', 'line\nbreak\ttab', "
        "X'61626364', X'7F', X'FF', '2026-11-23', '2026-11-23 12:34:56.000001', '2026-11-23 12:34:56.500', '12:34:56', "
        "2026, '[1, \"two\"]', 'b', 'x,z'"),
]


def my_insert(db, ids):
    cols = ", ".join(c for c, *_ in MY_COLUMNS)
    values = ", ".join(f"({rid}, {vals})" for rid, vals in MY_ROWS if rid in ids)
    mysql_exec(f"SET time_zone = '+00:00'; INSERT INTO `{db}`.typed (id, {cols}) VALUES {values}")


def unescape(value):
    """Undoes the escaping of the mariadb client's batch output."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0"}.get(m.group(1), m.group(1)), value)


def my_values(db):
    exprs = ", ".join(e for _, _, e, _, _ in MY_COLUMNS)
    out = mysql_exec(f"SET time_zone = '+00:00'; SELECT id, {exprs} FROM `{db}`.typed ORDER BY id").stdout
    return {int(r.split("\t")[0]): [None if v == "NULL" else unescape(v) for v in r.split("\t")[1:]]
            for r in out.splitlines() if r}


def pg_rows(db, schema, exprs):
    """id -> values of `exprs` (tab-separated text; NULL spelled out), read with psql in UTC."""
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-X", "-q", "-A",
                          "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c",
                          f"SET TIME ZONE 'UTC'; SELECT id, {exprs} FROM \"{schema}\".typed ORDER BY id"],
                         capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PG_PASSWORD}, timeout=60)
    assert out.returncode == 0, out.stderr
    return {int(r.split("\t")[0]): [None if v == "NULL" else v for v in r.split("\t")[1:]]
            for r in out.stdout.splitlines() if r}


def assert_same(columns, left, right, json_at):
    assert sorted(left) == sorted(right), f"ids differ: {sorted(left)} vs {sorted(right)}"
    problems = []
    for rid in sorted(left):
        for col, a, b in zip(columns, left[rid], right[rid]):
            if col[json_at] == "json" and a is not None and b is not None:
                same = json.loads(a) == json.loads(b)
            elif col[json_at] == "float" and a is not None and b is not None:
                same = float(a) == float(b)
            else:
                same = a == b
            if not same:
                problems.append(f"id {rid} column {col[0]} ({col[1]}): {a!r} != {b!r}")
    assert not problems, "\n".join(problems)


def cross_params(job, src_engine, src, dst_engine, dst, db_list, **extra):
    def side(prefix, engine, ep):
        return {f"{prefix}EndpointInstanceType": "OTHER", f"{prefix}EndpointEngineName": engine,
                f"{prefix}EndpointIP": ep["host"], f"{prefix}EndpointPort": str(ep["port"]),
                f"{prefix}EndpointUserName": ep["user"], f"{prefix}EndpointPassword": ep["password"],
                **({f"{prefix}EndpointDatabaseName": ep["db"]} if ep.get("db") else {})}
    p = {"DtsJobId": job, "DtsJobName": "cross", "JobType": "SYNC", "RegionId": REGION,
         **side("Source", src_engine, src), **side("Destination", dst_engine, dst),
         "StructureInitialization": True, "DataInitialization": True, "DataSynchronization": True,
         "DbList": json.dumps(db_list)}
    p.update(extra)
    return p


def start(raw, params):
    r = raw.call("ConfigureDtsJob", params)
    assert is_true(r.get("Success")), r
    raw.call("StartDtsJob", {"DtsJobId": params["DtsJobId"]})


def detail(raw, job):
    return raw.call("DescribeDtsJobDetail", {"DtsJobId": job})


def wait_synchronizing(raw, job, timeout=120):
    d = poll(lambda: detail(raw, job), lambda d: d.get("Status") in {"Synchronizing", "Failed", "PrecheckFailed"},
             timeout=timeout, what="synchronizing")
    assert d["Status"] == "Synchronizing", dump(d)


def ep_mysql(mysql):
    return {"host": mysql.host, "port": mysql.port, "user": mysql.user, "password": mysql.password}


def ep_pg(pg, db):
    return {"host": pg.host, "port": pg.port, "user": pg.user, "password": pg.password, "db": db}


@pytest.fixture
def pg_db(pg):
    name = "xe_" + secrets.token_hex(4)
    pg_exec(f"CREATE DATABASE {name}")
    yield name
    pg_drop_database(name)


def test_mysql_to_postgres_every_mapped_type_round_trips(raw, mysql, pg, pg_db):
    src = "x2p_" + secrets.token_hex(4)
    cols = ", ".join(f"`{c}` {t}" for c, t, *_ in MY_COLUMNS)
    mysql_exec(f"CREATE DATABASE `{src}`; CREATE TABLE `{src}`.typed (id int AUTO_INCREMENT PRIMARY KEY, {cols}, "
               "KEY by_vc (vc), UNIQUE KEY by_i (i, si))")
    try:
        my_insert(src, {1, 2})
        job = create_instance(raw, "SYNC", src="MySQL", dst="PostgreSQL")["JobId"]
        start(raw, cross_params(job, "MySQL", ep_mysql(mysql), "PostgreSQL", ep_pg(pg, pg_db),
                                {src: {"name": "shop", "all": True}}))
        wait_synchronizing(raw, job)
        # The AUTO_INCREMENT key became an identity set after the copied values. (Sequences do not follow the
        # changes of the incremental phase: that is done at switchover, see docs/type-mapping.md.)
        seq = pg_exec("SELECT pg_get_serial_sequence('shop.typed', 'id')", db=pg_db).stdout.strip()
        assert pg_exec(f"SELECT last_value, is_called FROM {seq}", db=pg_db).stdout.strip() == "2|t"
        # After the full load: through the binlog.
        my_insert(src, {3, 4})
        mysql_exec(f"UPDATE `{src}`.typed SET vc = 'changed ✓', tm = '-00:00:01', st = 'y' WHERE id = 2;"
                   f"DELETE FROM `{src}`.typed WHERE id = 1;"
                   f"INSERT INTO `{src}`.typed (id, vc) VALUES (5, 'marker')")
        poll(lambda: pg_exec("SELECT count(*) FROM shop.typed WHERE id = 5", db=pg_db, check=False).stdout.strip(),
             lambda n: n == "1", timeout=60, interval=0.1, what=f"the marker row; {dump(detail(raw, job))}")
        assert_same(MY_COLUMNS, my_values(src), pg_rows(pg_db, "shop", ", ".join(
            f"coalesce(({c[3]})::text, 'NULL')" for c in MY_COLUMNS)), 4)
        # The widened types keep MySQL's domain.
        bad = pg_exec("INSERT INTO shop.typed (id, tiu) VALUES (100, 256)", db=pg_db, check=False)
        assert bad.returncode != 0 and "check" in bad.stderr.lower(), bad.stderr
    finally:
        mysql_exec(f"DROP DATABASE IF EXISTS `{src}`", check=False)


def test_an_unmappable_column_fails_the_precheck_naming_it(raw, mysql, pg, pg_db):
    src = "x2pbad_" + secrets.token_hex(4)
    mysql_exec(f"CREATE DATABASE `{src}`; CREATE TABLE `{src}`.places (id int PRIMARY KEY, spot POINT)")
    try:
        job = create_instance(raw, "SYNC", src="MySQL", dst="PostgreSQL")["JobId"]
        start(raw, cross_params(job, "MySQL", ep_mysql(mysql), "PostgreSQL", ep_pg(pg, pg_db),
                                {src: {"name": "shop", "all": True}}))
        d = poll(lambda: detail(raw, job), lambda d: d.get("Status") in {"PrecheckFailed", "Failed", "Synchronizing"},
                 timeout=60, what="the precheck")
        assert d["Status"] == "PrecheckFailed", dump(d)
        ps = raw.call("DescribePreCheckStatus", {"DtsJobId": job, "JobCode": "01"})
        text = json.dumps(ps)
        assert "CHECK_COLUMN_TYPE" in text and "spot" in text, text
    finally:
        mysql_exec(f"DROP DATABASE IF EXISTS `{src}`", check=False)


# --------------------------------------------------------------------------------------------
# PostgreSQL -> MySQL
# --------------------------------------------------------------------------------------------

# (column, PostgreSQL type, PostgreSQL expression, MySQL expression, comparison: exact, "json" or "float")
PG_COLUMNS = [
    ("si", "smallint", "si::text", "CAST(si AS CHAR)", None),
    ("i", "integer", "i::text", "CAST(i AS CHAR)", None),
    ("bi", "bigint", "bi::text", "CAST(bi AS CHAR)", None),
    ("n", "numeric(20,6)", "n::text", "CAST(n AS CHAR)", None),
    ("r", "real", "r::text", "CAST(r AS CHAR)", "float"),
    ("dp", "double precision", "dp::text", "CAST(dp AS CHAR)", "float"),
    ("b", "boolean", "b::int::text", "CAST(b AS CHAR)", None),
    ("c", "character(5)", "c::text", "c", None),
    ("vc", "character varying(30)", "vc", "vc", None),
    ("t", "text", "md5(t)", "MD5(t)", None),
    ("by", "bytea", "upper(encode(by, 'hex'))", "HEX(`by`)", None),
    ("d", "date", "d::text", "CAST(d AS CHAR)", None),
    ("ts", "timestamp(6) without time zone", "to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US')",
     "DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f')", None),
    ("tz", "timestamp(3) with time zone", "to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
     "DATE_FORMAT(tz, '%Y-%m-%d %H:%i:%s.%f')", None),
    ("tm", "time(6) without time zone", "to_char('2000-01-01'::date + tm, 'HH24:MI:SS.US')",
     "TIME_FORMAT(tm, '%H:%i:%s.%f')", None),
    ("ttz", "time with time zone", "ttz::text", "ttz", None),
    ("iv", "interval", "iv::text", "iv", None),
    ("u", "uuid", "u::text", "u", None),
    ("ip", "inet", "abbrev(ip)", "ip", None),  # the output form: no /32 on a host address
    ("mac", "macaddr", "mac::text", "mac", None),
    ("j", "json", "j::text", "j", "json"),
    ("jb", "jsonb", "jb::text", "jb", "json"),
    ("arr", "integer[]", "arr::text", "arr", None),
    ("e", "mood", "e::text", "e", None),
    ("bt", "bit(4)", "bt::text", "bt", None),
]

PG_ROWS = [
    (1, "-32768, -2147483648, -9223372036854775808, '-12345678901234.123456', -1.5, -2.25, false, 'a', '', "
        "'short', '\\x00', '0001-01-01', '0001-01-01 00:00:00', '1970-01-01 00:00:01+00', '00:00:00', "
        "'00:00:00+00', '0 seconds', '00000000-0000-0000-0000-000000000000', '0.0.0.0', '00:00:00:00:00:00', "
        "'{}', '{}', '{}', 'sad', B'0000'"),
    (2, "32767, 2147483647, 9223372036854775807, '99999999999999.999999', 3.5, 1e300, true, 'five!', "
        "'ünïcødé ✓ 漢字', repeat('long text ', 500), '\\xdeadbeef00ff', '9999-12-31', '9999-12-31 23:59:59.999999', "
        "'2038-01-19 03:14:07.999+00', '23:59:59.999999', '12:30:00+02', '1 year 2 mons 3 days 04:05:06.5', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2001:db8::1/64', '08:00:2b:01:02:03', "
        "'{\"k\": [1, 2.5, \"s\", null, true]}', '{\"n\": {\"x\": 1}, \"a\": [true]}', '{1,2,NULL}', 'happy', B'1010'"),
    (3, "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        "NULL, NULL, NULL, NULL, NULL, NULL, NULL"),
    (4, "5, 6, 7, '0.000001', 0.5, 0.1, true, 'x', 'quote '' and \\ backslash', E'line\\nbreak\\ttab', '\\x61626364', '2026-11-23', "
        "'2026-11-23 12:34:56.000001', '2026-11-23 12:34:56.5+01', '12:34:56.789', '08:00:00-05', '-1 days +02:00:00', "
        "'6ba7b810-9dad-11d1-80b4-00c04fd430c8', '192.168.0.1', 'ff:ff:ff:ff:ff:ff', '[1, \"two\"]', '[]', "
        "'{{1,2},{3,4}}', 'ok', B'0110'"),
]


def pg_insert(db, ids):
    cols = ", ".join(f'"{c}"' for c, *_ in PG_COLUMNS)
    values = ", ".join(f"({rid}, {vals})" for rid, vals in PG_ROWS if rid in ids)
    pg_exec(f"INSERT INTO typed (id, {cols}) VALUES {values}", db=db)


def test_postgres_to_mysql_every_mapped_type_round_trips(raw, mysql, pg, pg_db):
    dest = "p2x_" + secrets.token_hex(4)
    cols = ", ".join(f'"{c}" {t}' for c, t, *_ in PG_COLUMNS)
    pg_exec("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
            f"CREATE TABLE typed (id serial PRIMARY KEY, {cols}); CREATE INDEX by_vc ON typed (vc);"
            "CREATE UNIQUE INDEX by_i ON typed (i, si);", db=pg_db)
    try:
        pg_insert(pg_db, {1, 2})
        job = create_instance(raw, "SYNC", src="PostgreSQL", dst="MySQL")["JobId"]
        start(raw, cross_params(job, "PostgreSQL", ep_pg(pg, pg_db), "MySQL", ep_mysql(mysql),
                                {"public": {"name": dest, "all": True}}))
        wait_synchronizing(raw, job)
        # After the full load: through the replication slot.
        pg_insert(pg_db, {3, 4})
        pg_exec("UPDATE typed SET vc = 'changed ✓', iv = '5 minutes', e = 'ok' WHERE id = 2;"
                "DELETE FROM typed WHERE id = 1; INSERT INTO typed (id, vc) VALUES (5, 'marker');", db=pg_db)
        poll(lambda: mysql_exec(f"SELECT COUNT(*) FROM `{dest}`.typed WHERE id = 5", check=False).stdout.strip(),
             lambda n: n == "1", timeout=60, interval=0.1, what=f"the marker row; {dump(detail(raw, job))}")
        mexprs = ", ".join(f"IFNULL({c[3]}, 'NULL')" for c in PG_COLUMNS)
        out = mysql_exec(f"SET time_zone = '+00:00'; SELECT id, {mexprs} FROM `{dest}`.typed ORDER BY id").stdout
        mine = {int(r.split("\t")[0]): [None if v == "NULL" else unescape(v) for v in r.split("\t")[1:]]
                for r in out.splitlines() if r}
        theirs = pg_rows(pg_db, "public", ", ".join(f"coalesce(({c[2]})::text, 'NULL')" for c in PG_COLUMNS))
        assert_same(PG_COLUMNS, theirs, mine, 4)
        # serial became AUTO_INCREMENT and continues after the copied values.
        mysql_exec(f"INSERT INTO `{dest}`.typed (vc) VALUES ('new')")
        assert mysql_exec(f"SELECT MAX(id) FROM `{dest}`.typed").stdout.strip() == "6"
        raw.call("DeleteDtsJob", {"DtsJobId": job})
    finally:
        mysql_exec(f"DROP DATABASE IF EXISTS `{dest}`", check=False)
