"""DescribeConnectionStatus really probes MariaDB and PostgreSQL (seed 000, issue item 6)."""

from __future__ import annotations

import re

import pytest

from conftest import free_port
from dtsclient import REGION, ApiError, is_true


def endpoint_params(side: str, engine: str, host: str, port: int, user: str, password: str,
                    database: str = "") -> dict:
    p = {
        f"{side}EndpointInstanceType": "LocalInstance",
        f"{side}EndpointEngineName": engine,
        f"{side}EndpointRegion": REGION,
        f"{side}EndpointIP": host,
        f"{side}EndpointPort": str(port),
        f"{side}EndpointUserName": user,
        f"{side}EndpointPassword": password,
    }
    if database:
        p[f"{side}EndpointDatabaseName"] = database
    return p


def both(engine, host, port, user, password, database="", dest=None) -> dict:
    p = endpoint_params("Source", engine, host, port, user, password, database)
    p.update(dest or endpoint_params("Destination", engine, host, port, user, password, database))
    p["RegionId"] = REGION
    return p


def detail_by_name(status: dict) -> dict:
    return {d["testName"]: d["testSuccess"] for d in status["connectDetail"]}


def find(status: dict, needle: str):
    hits = [d for d in status["connectDetail"] if needle.lower() in d["testName"].lower()]
    assert hits, f"no connectDetail item named like {needle!r}: {status}"
    return hits[0]


def check_ok(st: dict, engine_word: str):
    assert st["connectRes"] is True, st
    assert find(st, "Telnet")["testSuccess"] is True
    jdbc = find(st, "JDBC Connect")
    assert jdbc["testSuccess"] is True, st
    assert engine_word.lower() in jdbc["testName"].lower(), jdbc
    assert (st.get("connectAdvice") or "") == "", st


@pytest.fixture(params=["mysql", "postgresql"])
def db(request):
    if request.param == "mysql":
        mysql = request.getfixturevalue("mysql")
        return {"engine": "MySQL", "word": "MySQL", "host": mysql.host, "port": mysql.port, "user": mysql.user,
                "password": mysql.password, "database": ""}
    pg = request.getfixturevalue("pg")
    return {"engine": "PostgreSQL", "word": "PostgreSQL", "host": pg.host, "port": pg.port, "user": pg.user,
            "password": pg.password, "database": pg.database}


def call(c, db, **over):
    d = dict(db)
    d.update(over)
    return c.call("DescribeConnectionStatus", both(d["engine"], d["host"], d["port"], d["user"], d["password"],
                                                   d["database"]))


def test_success_mysql_all_clients(client, mysql):
    r = client.call("DescribeConnectionStatus", both("MySQL", mysql.host, mysql.port, mysql.user, mysql.password))
    assert is_true(r.get("Success")), r
    check_ok(r["SourceConnectionStatus"], "MySQL")
    check_ok(r["DestinationConnectionStatus"], "MySQL")


def test_success(sdk, db):
    r = call(sdk, db)
    check_ok(r["SourceConnectionStatus"], db["word"])
    check_ok(r["DestinationConnectionStatus"], db["word"])


def test_wrong_password(old_sdk, raw, db):
    wrong = "Wrong-" + db["password"] + "-pw"
    r = call(old_sdk, db, password=wrong)
    for side in ("SourceConnectionStatus", "DestinationConnectionStatus"):
        st = r[side]
        assert st["connectRes"] is False, st
        assert find(st, "Telnet")["testSuccess"] is True, st
        assert find(st, "JDBC Connect")["testSuccess"] is False, st
        assert re.search(r"password|login|access denied|authenticat", st["connectAdvice"], re.I), st
    body = raw.request("DescribeConnectionStatus", both(db["engine"], db["host"], db["port"], db["user"], wrong,
                                                        db["database"])).body
    assert wrong.encode() not in body, "the response repeats the password"


def test_refused_port(sdk_v2, db):
    port = free_port()  # nothing listens there
    r = call(sdk_v2, db, port=port)
    st = r["SourceConnectionStatus"]
    assert st["connectRes"] is False, st
    assert find(st, "Telnet")["testSuccess"] is False, st
    assert re.search(r"refused|port", st["connectAdvice"], re.I), st
    jdbc = [d for d in st["connectDetail"] if "jdbc" in d["testName"].lower()]
    assert all(d["testSuccess"] is False for d in jdbc), st


def test_source_ok_destination_bad(sdk, mysql, pg):
    """Each side is probed on its own."""
    p = both("MySQL", mysql.host, mysql.port, mysql.user, mysql.password,
             dest=endpoint_params("Destination", "PostgreSQL", pg.host, pg.port, pg.user, "nope-" + pg.password,
                                  pg.database))
    r = sdk.call("DescribeConnectionStatus", p)
    assert r["SourceConnectionStatus"]["connectRes"] is True
    assert r["DestinationConnectionStatus"]["connectRes"] is False
    assert find(r["DestinationConnectionStatus"], "JDBC")["testName"].lower().startswith("postgresql")


def test_unsupported_engine_is_clear(sdk):
    p = both("Oracle", "127.0.0.1", free_port(), "system", "x-oracle-pw")
    p["SourceEndpointOracleSID"] = "ORCL"
    p["SourceEndpointArchitecture"] = "SID"
    try:
        r = sdk.call("DescribeConnectionStatus", p)
    except ApiError as e:
        assert re.search(r"not support|unsupported", e.text(), re.I), e
        assert "oracle" in e.text().lower(), e
        return
    st = r["SourceConnectionStatus"]
    assert st["connectRes"] is False, st
    assert re.search(r"not support|unsupported", st.get("connectAdvice", ""), re.I), st
    assert "oracle" in st.get("connectAdvice", "").lower(), st


def test_xml_connect_detail_repeats(raw, mysql):
    r = raw.request("DescribeConnectionStatus", both("MySQL", mysql.host, mysql.port, mysql.user, mysql.password),
                    fmt="XML")
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "DescribeConnectionStatusResponse"
    src = root.find("SourceConnectionStatus")
    assert src is not None
    names = [d.findtext("testName") for d in src.findall("connectDetail")]
    assert len(names) >= 2 and any("Telnet" in n for n in names), names
    assert src.findtext("connectRes") == "true"
