"""Decodes the sample dts_avro records the engine's Rust test writes, with a
stock Avro library (fastavro) and the published schema docs/dts_avro.avsc,
and checks every field. Run: crates/engine/tests/py/run.sh
"""

import json
import os
import pathlib
import sys

from fastavro import parse_schema, schemaless_reader

ROOT = pathlib.Path(__file__).resolve().parents[4]
SCHEMA = parse_schema(json.loads((ROOT / "docs" / "dts_avro.avsc").read_text()))
SAMPLES = pathlib.Path(os.environ.get("DTS_AVRO_SAMPLES_DIR", "/tmp/dts-avro-samples"))
NS = "com.alibaba.dts.formats.avro."
COMMIT = 1_795_437_255
NOW = 1_795_437_255_321


def decode(name):
    data = (SAMPLES / f"{name}.avro").read_bytes()
    import io

    buf = io.BytesIO(data)
    record = schemaless_reader(buf, SCHEMA, return_record_name=True)
    assert buf.tell() == len(data), f"{name}: {len(data) - buf.tell()} trailing bytes"
    return record


def v(kind, **fields):
    return (NS + kind, fields)


def dt(year=None, month=None, day=None, hour=None, minute=None, second=None, millis=None):
    return dict(year=year, month=month, day=day, hour=hour, minute=minute, second=second, millis=millis)


MYSQL_FIELDS = [
    ("id", 3), ("tiny", 1), ("big", 8), ("name", 15), ("price", 246), ("ratio", 4), ("score", 5),
    ("born", 10), ("seen", 12), ("stamp", 7), ("dur", 11), ("yr", 13), ("doc", 245), ("raw", 252),
    ("flags", 16), ("shape", 255), ("color", 247), ("note", 252),
]


def mysql_image(name, price, precision=10, scale=2):
    return [
        v("Integer", precision=32, value="4000000000"),
        v("Integer", precision=8, value="-128"),
        v("Integer", precision=64, value=str(-(2**63))),
        v("Character", charset="utf8mb4", value=name),
        v("Decimal", value=price, precision=precision, scale=scale),
        v("Float", value=0.1, precision=12, scale=0),
        v("Float", value=-2.5e300, precision=22, scale=0),
        v("DateTime", **dt(2026, 11, 23)),
        v("DateTime", **dt(2026, 11, 23, 13, 14, 15, 123456)),
        v("Timestamp", timestamp=1_795_392_001, millis=500000),
        v("DateTime", **dt(hour=-26, minute=-3, second=-4, millis=0)),
        v("DateTime", **dt(2026)),
        v("TextObject", type="JSON", value='{"a": [1, 2]}'),
        v("BinaryObject", type="BLOB", value=b"\x00\xff\x10"),
        v("BinaryObject", type="BIT", value=b"\x0a\xbc"),
        v("BinaryGeometry", type="GEOMETRY", value=bytes([0, 0, 0, 0, 1, 1, 0, 0, 0])),
        v("TextObject", type="ENUM", value="green"),
        None,
    ]


def header(r, id_, op, position, source="MySQL", obj="shop.items"):
    assert r["version"] == 1
    assert r["id"] == id_
    assert r["sourceTimestamp"] == COMMIT
    assert r["sourcePosition"] == position
    assert r["safeSourcePosition"] == position
    assert r["sourceTxid"] == ""
    assert r["source"] == {"sourceType": source, "version": ""}
    assert r["operation"] == op
    assert r["objectName"] == obj
    assert r["processTimestamps"] == [NOW]
    assert r["bornTimestamp"] == COMMIT * 1000


def fields(r):
    return [(f["name"], f["dataTypeNumber"]) for f in r["fields"]]


def test_insert():
    r = decode("insert")
    header(r, 10, "INSERT", "mysql-bin.000003:1234")
    assert r["tags"] == {"pk_uk_info": '{"PRIMARY":["id"]}'}
    assert fields(r) == MYSQL_FIELDS
    assert r["beforeImages"] is None
    assert r["afterImages"] == mysql_image(b"new", "-12345678.90")


def test_update():
    r = decode("update")
    header(r, 11, "UPDATE", "mysql-bin.000003:1234")
    assert fields(r) == MYSQL_FIELDS
    assert r["beforeImages"] == mysql_image("älter".encode(), "9.99")
    assert r["afterImages"] == mysql_image(b"new", "-12345678.90")


def test_delete():
    r = decode("delete")
    header(r, 12, "DELETE", "mysql-bin.000003:1234")
    assert r["beforeImages"] == mysql_image("älter".encode(), "9.99")
    assert r["afterImages"] is None


def test_ddl():
    r = decode("ddl")
    header(r, 13, "DDL", "mysql-bin.000003:2000")
    assert r["tags"] == {}
    assert r["fields"] is None
    assert r["beforeImages"] is None
    assert r["afterImages"] == "ALTER TABLE items ADD COLUMN extra INT"


def test_postgresql_insert():
    r = decode("pg_insert")
    header(r, 14, "INSERT", "0/16B3748", source="PostgreSQL", obj="public.events")
    assert fields(r) == [
        ("id", 20), ("ok", 16), ("title", 1043), ("amount", 1700), ("at", 1184), ("local", 1114),
        ("payload", 3802), ("blob", 17),
    ]
    assert r["beforeImages"] is None
    assert r["afterImages"] == [
        v("Integer", precision=64, value="42"),
        v("Integer", precision=1, value="1"),
        v("Character", charset="UTF8", value=b"hello"),
        v("Decimal", value="-0.0500", precision=5, scale=4),
        v("TimestampWithTimeZone", value=dt(2026, 1, 2, 3, 4, 5, 6000), timezone="+00:00"),
        v("DateTime", **dt(1999, 12, 31, 23, 59, 59, 0)),
        v("TextObject", type="JSONB", value='{"k": "v"}'),
        v("BinaryObject", type="BYTEA", value=b"\xde\xad"),
    ]


if __name__ == "__main__":
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
    for name, fn in tests:
        fn()
        print(f"ok  {name}")
    print(f"{len(tests)} passed")
    sys.exit(0)
