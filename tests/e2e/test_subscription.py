"""Change tracking through the official SDK: ConfigureSubscription on a MariaDB source, StartDtsJob, and the
task captures into its change log: it reaches Normal, and DescribeDtsJobDetail reports the data range it keeps
(BeginTimestamp/EndTimestamp) and a Checkpoint that follows the source's commits. (Consumption through the
Kafka endpoint is issue 5's next part.)"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone

import pytest

from conftest import mysql_exec
from dtsclient import REGION, is_true, poll
from jobs import create_instance, dump


@pytest.fixture
def sub_db(mysql):
    name = "subs_" + secrets.token_hex(4)
    mysql_exec(f"CREATE DATABASE `{name}`; CREATE TABLE `{name}`.orders (id INT PRIMARY KEY, note VARCHAR(20))")
    yield name
    mysql_exec(f"DROP DATABASE IF EXISTS `{name}`", check=False)


def iso(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def test_a_subscription_captures_and_reports_its_data_range(raw, mysql, sub_db):
    job = create_instance(raw, "SUBSCRIBE")["JobId"]
    r = raw.call("ConfigureSubscription", {
        "DtsJobId": job, "DtsJobName": "capture", "RegionId": REGION,
        "SourceEndpointInstanceType": "OTHER", "SourceEndpointEngineName": "MySQL",
        "SourceEndpointIP": mysql.host, "SourceEndpointPort": str(mysql.port),
        "SourceEndpointUserName": mysql.user, "SourceEndpointPassword": mysql.password,
        "DbList": json.dumps({sub_db: {"name": sub_db, "all": True}}),
        "SubscriptionInstanceNetworkType": "classic", "SubscriptionDataTypeDDL": True, "SubscriptionDataTypeDML": True,
    })
    assert is_true(r.get("Success")), r
    raw.call("StartDtsJob", {"DtsJobId": job})
    d = poll(lambda: raw.call("DescribeDtsJobDetail", {"DtsJobId": job}),
             lambda d: d.get("Status") in {"Normal", "Abnormal", "PrecheckFailed"}, timeout=60, what="Normal")
    assert d["Status"] == "Normal", dump(d)
    before = time.time()
    for i in range(5):
        mysql_exec(f"INSERT INTO `{sub_db}`.orders VALUES ({i}, 'n{i}')")
    d = poll(lambda: raw.call("DescribeDtsJobDetail", {"DtsJobId": job}), lambda d: "EndTimestamp" in d,
             timeout=30, interval=0.2, what="the change log's data range")
    begin, end = iso(d["BeginTimestamp"]), iso(d["EndTimestamp"])
    assert before - 2 <= begin <= end <= time.time() + 1, dump(d)
    d = poll(lambda: raw.call("DescribeDtsJobDetail", {"DtsJobId": job}),
             lambda d: d.get("Checkpoint") and int(d["Checkpoint"]) >= int(before) - 1, timeout=30, interval=0.2,
             what="the checkpoint to follow the source")
    raw.call("DeleteDtsJob", {"DtsJobId": job})
