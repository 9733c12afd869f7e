"""The MySQL type matrix: every column type round-trips bit-exactly, through the full load and through the
binlog. One table per type; edge values are written before the task starts (copied by the full load) and
after it is synchronizing (carried by the binlog); each test compares one table row by row."""

from __future__ import annotations

import json
import secrets

import pytest

from conftest import mysql_exec
from dtsclient import poll
from test_mysql_migration import assert_identical, target_exec
from test_mysql_sync import start_sync, wait_caught_up

# name -> (column definition, SQL literals of the values written)
TYPES = {
    "tinyint": ("TINYINT", ["-128", "127", "0", "NULL"]),
    "tinyint_unsigned": ("TINYINT UNSIGNED", ["0", "255", "NULL"]),
    "smallint": ("SMALLINT", ["-32768", "32767"]),
    "smallint_unsigned": ("SMALLINT UNSIGNED", ["65535"]),
    "mediumint": ("MEDIUMINT", ["-8388608", "8388607"]),
    "mediumint_unsigned": ("MEDIUMINT UNSIGNED", ["16777215"]),
    "int": ("INT", ["-2147483648", "2147483647"]),
    "int_unsigned": ("INT UNSIGNED", ["4294967295", "0"]),
    "bigint": ("BIGINT", ["-9223372036854775808", "9223372036854775807"]),
    "bigint_unsigned": ("BIGINT UNSIGNED", ["18446744073709551615", "9223372036854775808"]),
    "decimal": ("DECIMAL(65,30)", ["'99999999999999999999999999999999999.999999999999999999999999999999'",
                                   "'-0.000000000000000000000000000001'", "0"]),
    "decimal_small": ("DECIMAL(5,2) UNSIGNED", ["'999.99'", "'0.01'"]),
    "float": ("FLOAT", ["3.40282e38", "-1.17549e-38", "0.1", "-0.0"]),
    "double": ("DOUBLE", ["1.7976931348623157e308", "-2.2250738585072014e-308", "0.1", "1e-300"]),
    "date": ("DATE", ["'0000-00-00'", "'1000-01-01'", "'9999-12-31'", "'2024-02-29'"]),
    "datetime": ("DATETIME(6)", ["'0000-00-00 00:00:00'", "'1000-01-01 00:00:00.000001'", "'9999-12-31 23:59:59.999999'"]),
    "datetime0": ("DATETIME", ["'2020-05-05 05:05:05'"]),
    "timestamp": ("TIMESTAMP(6) NULL", ["'1970-01-01 00:00:01.000000'", "'2038-01-19 03:14:07.999999'", "NULL"]),
    "time": ("TIME(6)", ["'-838:59:59'", "'838:59:59'", "'-00:00:00.000001'", "'25:00:00.5'"]),
    "year": ("YEAR", ["1901", "2155", "0"]),
    "char": ("CHAR(10) CHARACTER SET utf8mb4", ["'𝄞😀'", "''", "'trail  '"]),
    "varchar": ("VARCHAR(100) CHARACTER SET utf8mb4", ["'ünï 中文 😀'", "REPEAT('x', 100)"]),
    "latin1": ("VARCHAR(20) CHARACTER SET latin1", ["X'E9E8FF'", "'plain'"]),
    "gbk": ("VARCHAR(20) CHARACTER SET gbk", ["X'C4E3BAC3'"]),
    "text": ("MEDIUMTEXT", ["REPEAT('t', 70000)", "''"]),
    "binary": ("BINARY(8)", ["X'00'", "X'0102030405060708'"]),
    "varbinary": ("VARBINARY(16)", ["X'00FF00FF'", "X''"]),
    "blob": ("LONGBLOB", ["X'000102FEFF'", "REPEAT(X'00', 100000)"]),
    "enum": ("ENUM('a','b','z z')", ["'a'", "'z z'", "''"]),
    "set": ("SET('x','y','z')", ["'x,z'", "''", "'x,y,z'"]),
    "bit": ("BIT(64)", ["b'1111111111111111111111111111111111111111111111111111111111111111'", "b'0'"]),
    "bit1": ("BIT(1)", ["b'1'", "b'0'"]),
    "json": ("JSON", ["'{\"a\": [1, 2.5, \"s\", null, true], \"b\": {\"c\": \"😀\"}}'", "'[]'", "'null'"]),
    "geometry": ("GEOMETRY", ["ST_GeomFromText('POINT(1 2)')", "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))')"]),
}


@pytest.fixture(scope="module")
def type_matrix(tenant, mysql, mysql_target):
    raw = tenant.client("sdk-acs3")
    src = "types_" + secrets.token_hex(4)
    dest = src + "_copy"
    ddl = [f"CREATE DATABASE `{src}`", f"USE `{src}`"]
    for name, (col, _) in TYPES.items():
        ddl.append(f"CREATE TABLE t_{name} (id INT PRIMARY KEY, v {col})")

    def write(first_id):
        stmts = ["SET sql_mode=''", f"USE `{src}`"]
        for name, (_, values) in TYPES.items():
            rows = ", ".join(f"({first_id + i}, {v})" for i, v in enumerate(values))
            stmts.append(f"INSERT INTO t_{name} VALUES {rows}")
        return "; ".join(stmts)

    mysql_exec("; ".join(ddl) + "; " + write(1))
    job = start_sync(raw, mysql, mysql_target, src, dest)
    wait_caught_up(raw, job, src)
    # Carried by the binlog: new rows, and every full-load row rewritten in place.
    mysql_exec(write(101) + "; " + "; ".join(f"UPDATE t_{n} SET v = v WHERE id = 1" for n in TYPES) +
               "; CREATE TABLE done (id INT PRIMARY KEY); INSERT INTO done VALUES (1)")
    poll(lambda: target_exec(mysql_target, f"SELECT COUNT(*) FROM `{dest}`.done", check=False).stdout.strip(),
         lambda n: n == "1", timeout=120, interval=0.1, what="the binlog half of the matrix to arrive")
    yield src, dest
    raw.call("StopDtsJob", {"DtsJobId": job})
    mysql_exec(f"DROP DATABASE IF EXISTS `{src}`", check=False)
    target_exec(mysql_target, f"DROP DATABASE IF EXISTS `{dest}`", check=False)


@pytest.mark.parametrize("type_name", list(TYPES))
def test_type_round_trips(type_matrix, mysql_target, type_name):
    src, dest = type_matrix
    assert_identical(mysql_target, src, dest, {f"t_{type_name}": "id"})
    n = len(TYPES[type_name][1])
    got = target_exec(mysql_target, f"SELECT COUNT(*) FROM `{dest}`.t_{type_name}").stdout.strip()
    assert got == str(2 * n), f"expected {2 * n} rows (full load + binlog), got {got}"
