"""PostgreSQL -> PostgreSQL full load in the servers' own COPY formats, through the official SDK.

A table whose columns are all built-in types goes in COPY binary; a table with user-defined types (enums,
domains, an enum array; the schema migration creates them), and a table the destination already has with
other column types, go in COPY text, which the server checks value by value. Each case ends with the destination equal to the source, row
by row, in every column's text form: a wrong choice of format shows up as a failed job or a changed value."""

from __future__ import annotations

import json
import secrets

import pytest

from conftest import pg_drop_database, pg_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump

BUILTIN_COLUMNS = """
    id bigint PRIMARY KEY, i2 smallint, i4 integer, f4 real, f8 double precision, num numeric(20,6), num_any numeric,
    bool boolean, ch char(5), vc varchar(20), tx text, by bytea, d date, t time(3), tz timetz, ts timestamp(6),
    tstz timestamptz, iv interval, u uuid, ip inet, net cidr, mac macaddr, js json, jb jsonb, b bit(4), vb varbit(9),
    ia int[], ta text[], r int4range, p point, m money, x xml, tv tsvector, o oid
"""

BUILTIN_ROWS = """
INSERT INTO typed VALUES
 (1, -32768, 2147483647, 'NaN', '-Infinity', 12345678901234.123456, 'NaN', true, 'ab', 'tab\tnew\nline', repeat('é', 3000),
  '\\x00ff10', '2026-02-28', '23:59:59.999', '12:00:00+05:30', '2026-11-23 10:11:12.123456', '1999-12-31 23:59:59+00',
  '1 year 2 mons -3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8',
  '08:00:2b:01:02:03', '{"a": [1, 2.50]}', '{"b": {"c": null}}', B'1010', B'101010101', '{1,NULL,-3}',
  '{"x y","q\\"uote",NULL}', '[1,10)', '(1.5,-2)', 12.34, '<a>b</a>', 'fat cat sat', 4000000000),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, 0, 0, 1.5e-30, 2.2250738585072014e-308, -0.000001, 1e40, false, '', '', '', '\\x', '0001-01-01', '00:00', '00:00+00',
  '294276-12-31 23:59:59', '-infinity', '0', '00000000-0000-0000-0000-000000000000', '::1', '2001:db8::/32',
  'ff:ff:ff:ff:ff:ff', '[]', '[]', B'0000', B'', '{}', '{}', 'empty', '(0,0)', -0.01, '', '', 0);
INSERT INTO typed (id, i4, tx) SELECT g, g, md5(g::text) FROM generate_series(4, 5000) g;
"""

# Enums, domains (one over an enum) and composite types (one holding an enum and a collated text), one of them in
# a schema of its own, are created by the schema migration.
USER_TYPES = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE DOMAIN cheerful AS mood DEFAULT 'ok' NOT NULL CONSTRAINT not_sad CHECK (VALUE <> 'sad');
CREATE SCHEMA kinds;
CREATE TYPE kinds.size AS ENUM ('s', 'm', 'l');
CREATE TYPE kinds.tagged AS (label text COLLATE "C", how mood, n numeric(6,2));
CREATE TABLE feelings (id int PRIMARY KEY, m mood, ms mood[], p positive, c cheerful, sz kinds.size,
                       t kinds.tagged, ts kinds.tagged[], note text);
INSERT INTO feelings SELECT g, (ARRAY['sad','ok','happy'])[1 + g % 3]::mood, ARRAY['ok', 'happy']::mood[], g,
       (ARRAY['ok','happy'])[1 + g % 2]::mood, (ARRAY['s','m','l'])[1 + g % 3]::kinds.size,
       ROW('l' || g, 'happy', g / 7.0)::kinds.tagged, ARRAY[ROW('a, "b"', 'ok', 1.5)::kinds.tagged], 'n' || g
FROM generate_series(1, 3000) g;
"""


@pytest.fixture
def dbs(pg):
    src, dst = "pcf_s_" + secrets.token_hex(4), "pcf_d_" + secrets.token_hex(4)
    pg_exec(f"CREATE DATABASE {src}")
    pg_exec(f"CREATE DATABASE {dst}")
    yield src, dst
    for db in (src, dst):
        pg_drop_database(db)


def migrate(raw, pg, src, dst, structure=True):
    job = create_instance(raw, "MIGRATION", src="PostgreSQL", dst="PostgreSQL")["JobId"]
    side = lambda prefix, db: {  # noqa: E731
        f"{prefix}EndpointInstanceType": "OTHER", f"{prefix}EndpointEngineName": "PostgreSQL",
        f"{prefix}EndpointIP": pg.host, f"{prefix}EndpointPort": str(pg.port), f"{prefix}EndpointDatabaseName": db,
        f"{prefix}EndpointUserName": pg.user, f"{prefix}EndpointPassword": pg.password}
    r = raw.call("ConfigureDtsJob", {
        "DtsJobId": job, "DtsJobName": "copy formats", "JobType": "MIGRATION", "RegionId": REGION,
        **side("Source", src), **side("Destination", dst),
        "StructureInitialization": structure, "DataInitialization": True, "DataSynchronization": False,
        "DbList": json.dumps({"public": {"name": "public", "all": True}}),
        # Writing into tables the destination already has.
        **({} if structure else {"Reserve": json.dumps({"targetTableMode": "2"})})})
    assert is_true(r.get("Success")), r
    raw.call("StartDtsJob", {"DtsJobId": job})
    d = poll(lambda: raw.call("DescribeDtsJobDetail", {"DtsJobId": job}),
             lambda d: d.get("Status") in {"Finished", "Failed", "PrecheckFailed", "MigrationFailed"},
             timeout=120, what="the migration to finish")
    assert d["Status"] == "Finished", dump(d)
    return job


def rows_as_text(db, table):
    """Every row of `table` in its text form, in key order, read in UTC."""
    out = pg_exec(f"SET TIME ZONE 'UTC'; SET extra_float_digits = 3; SELECT t::text FROM {table} t ORDER BY id", db=db)
    return out.stdout.splitlines()


def test_builtin_types_in_binary_and_user_types_in_text_arrive_unchanged(raw, pg, dbs):
    src, dst = dbs
    pg_exec(f"CREATE TABLE typed ({BUILTIN_COLUMNS}); {BUILTIN_ROWS} {USER_TYPES}", db=src)
    migrate(raw, pg, src, dst)
    for table, count in (("typed", 5000), ("feelings", 3000)):
        want, got = rows_as_text(src, table), rows_as_text(dst, table)
        assert len(want) == count
        assert got == want, next((f"{table}: {w!r} != {g!r}" for w, g in zip(want, got) if w != g), f"{table}: row counts")
    # The types came with their rules: labels in order, the domains' checks, default and NOT NULL.
    labels = "SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = '{}'::regtype"
    assert pg_exec(labels.format("mood"), db=dst).stdout.strip() == "sad,ok,happy"
    assert pg_exec(labels.format("kinds.size"), db=dst).stdout.strip() == "s,m,l"
    attrs = ("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || ' ' || coalesce(collname, '-'), ', '"
             " ORDER BY attnum) FROM pg_attribute LEFT JOIN pg_collation c ON c.oid = attcollation"
             " WHERE attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'kinds.tagged'::regtype)")
    assert pg_exec(attrs, db=dst).stdout.strip() == pg_exec(attrs, db=src).stdout.strip() \
        == "label text C, how mood -, n numeric(6,2) -"
    for bad in ("INSERT INTO feelings (id, p) VALUES (-1, 0)", "INSERT INTO feelings (id, c) VALUES (-2, 'sad')",
                "INSERT INTO feelings (id, c) VALUES (-3, NULL)"):
        assert pg_exec(bad, db=dst, check=False).returncode != 0, bad
    pg_exec("INSERT INTO feelings (id) VALUES (-4)", db=dst)
    assert pg_exec("SELECT c FROM feelings WHERE id = -4", db=dst).stdout.strip() == "ok"


def test_a_destination_table_with_other_column_types_is_copied_as_text(raw, pg, dbs):
    src, dst = dbs
    # Binary int4 read as int8, or bytea's bytes read as text, would fail or change values: text is checked.
    pg_exec("CREATE TABLE widened (id int PRIMARY KEY, n int, b bytea, c varchar(10));"
            "INSERT INTO widened SELECT g, -g, int4send(g), 'v' || g FROM generate_series(1, 2000) g", db=src)
    pg_exec("CREATE TABLE widened (id bigint PRIMARY KEY, n bigint, b text, c text)", db=dst)
    migrate(raw, pg, src, dst, structure=False)
    want = pg_exec("SELECT id || '|' || n || '|' || b::text || '|' || c FROM widened ORDER BY id", db=src).stdout
    got = pg_exec("SELECT id || '|' || n || '|' || b || '|' || c FROM widened ORDER BY id", db=dst).stdout
    assert len(want.splitlines()) == 2000
    assert got == want
