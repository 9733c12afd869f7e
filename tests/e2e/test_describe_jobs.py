"""DescribeDtsJobs: every filter, sort and paging rule of seed 001, on a tenant of its own.

25 jobs: 13 MIGRATION, 9 SYNC, 3 SUBSCRIBE, created in three batches a second apart (CreateTime has
second resolution), some configured (NotStarted) and named, some tagged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Dict, List

import pytest

from dtsclient import REGION, ApiError
from jobs import configure, create_instance, dump, job_ids, list_jobs

RESOURCE_TYPE = "ALIYUN::DTS::INSTANCE"


@dataclass
class Fleet:
    tenant: object
    jobs: List[dict] = field(default_factory=list)  # {JobId, InstanceId, type, name, status, batch, tag}

    def ids(self, **match) -> set:
        return {j["JobId"] for j in self.jobs if all(j.get(k) == v for k, v in match.items())}


@pytest.fixture(scope="module")
def fleet(server, mysql):
    from conftest import mysql_exec
    import secrets as _s

    db = "t_" + _s.token_hex(5)
    mysql_exec(f"CREATE DATABASE `{db}`")
    tenant = server.create_access_key("describe-jobs")
    c = tenant.client("sdk-acs3")
    f = Fleet(tenant)
    plan = (["MIGRATION"] * 13) + (["SYNC"] * 9) + (["SUBSCRIBE"] * 3)
    # Interleave the types so that every batch has each type.
    order = sorted(range(len(plan)), key=lambda i: (i % 3, i))
    plan = [plan[i] for i in order]
    for i, jt in enumerate(plan):
        if i in (9, 18):
            time.sleep(1.1)  # three CreateTime batches
        ids = create_instance(c, jt)
        f.jobs.append({"JobId": ids["JobId"], "InstanceId": ids["InstanceId"], "type": jt, "batch": i // 9,
                       "name": "", "status": "NotConfigured", "tag": None})
    # Configure and name some migration and sync jobs.
    n = 0
    for j in f.jobs:
        if j["type"] in ("MIGRATION", "SYNC") and n < 12:
            j["name"] = f"{'alpha' if n % 2 == 0 else 'beta'}-{j['type'].lower()}-{n:02d}"
            configure(c, j["JobId"], mysql, db, job_type=j["type"], name=j["name"])
            j["status"] = "NotStarted"
            n += 1
    # Tag four instances.
    prod = [j for j in f.jobs if j["type"] == "MIGRATION"][:3]
    dev = [j for j in f.jobs if j["type"] == "SYNC"][:1]
    c.call("TagResources", {"RegionId": REGION, "ResourceType": RESOURCE_TYPE,
                            "ResourceId": [j["InstanceId"] for j in prod],
                            "Tag": [{"Key": "env", "Value": "prod"}]})
    c.call("TagResources", {"RegionId": REGION, "ResourceType": RESOURCE_TYPE,
                            "ResourceId": [j["InstanceId"] for j in dev],
                            "Tag": [{"Key": "env", "Value": "dev"}]})
    for j in prod:
        j["tag"] = "prod"
    for j in dev:
        j["tag"] = "dev"
    yield f
    mysql_exec(f"DROP DATABASE IF EXISTS `{db}`", check=False)


@pytest.fixture(params=["sdk-acs3", "sdk-old"])
def fc(request, fleet):
    return fleet.tenant.client(request.param)


def all_pages(c, **params) -> List[dict]:
    out, page = [], 1
    while True:
        r = list_jobs(c, PageSize=30, PageNumber=page, **params)
        out.extend(r.get("DtsJobList") or [])
        if len(out) >= int(r["TotalRecordCount"]) or not r.get("DtsJobList"):
            return out
        page += 1


@pytest.mark.parametrize("job_type", ["MIGRATION", "SYNC", "SUBSCRIBE"])
def test_job_type_filter(fleet, fc, job_type):
    r = list_jobs(fc, JobType=job_type, PageSize=30)
    assert int(r["TotalRecordCount"]) == len(fleet.ids(type=job_type))
    assert set(job_ids(r)) == fleet.ids(type=job_type)
    item_type = {"MIGRATION": "online", "SYNC": "sync", "SUBSCRIBE": "subscribe"}[job_type]
    for j in r["DtsJobList"]:
        if "JobType" in j:
            assert j["JobType"] in (item_type, job_type), j["JobType"]


def test_default_job_type_is_migration(fleet, fc):
    r = list_jobs(fc, PageSize=30)
    assert set(job_ids(r)) == fleet.ids(type="MIGRATION"), "JobType defaults to MIGRATION (seed 001)"


def test_items_carry_the_documented_fields(fleet, fc):
    r = list_jobs(fc, JobType="MIGRATION", Type="instance",
                  Params=next(j["InstanceId"] for j in fleet.jobs if j["name"] and j["type"] == "MIGRATION"))
    assert r["PageNumber"] in (1, "1")
    assert len(r["DtsJobList"]) == 1
    item = r["DtsJobList"][0]
    for key in ("DtsJobId", "DtsInstanceID", "DtsJobName", "Status", "CreateTime", "PayType", "SourceEndpoint",
                "DestinationEndpoint", "MigrationMode", "DbObject"):
        assert key in item, f"{key} missing: {dump(item)}"
    assert item["Status"] == "NotStarted"
    assert item["SourceEndpoint"]["Ip"] == "127.0.0.1"


def test_status_filter(fleet, fc):
    for jt in ("MIGRATION", "SYNC"):
        for st in ("NotStarted", "NotConfigured"):
            got = {j["DtsJobId"] for j in all_pages(fc, JobType=jt, Status=st)}
            assert got == fleet.ids(type=jt, status=st), (jt, st)
    # Filters compare case-insensitively (catalogue §13.7).
    got = {j["DtsJobId"] for j in all_pages(fc, JobType="SYNC", Status="notstarted")}
    assert got == fleet.ids(type="SYNC", status="NotStarted")


def test_fuzzy_name_search(fleet, fc):
    r = list_jobs(fc, JobType="MIGRATION", Type="name", Params="alpha-migr", PageSize=30)
    want = {j["JobId"] for j in fleet.jobs if j["type"] == "MIGRATION" and "alpha-migr" in j["name"]}
    assert want and set(job_ids(r)) == want
    r = list_jobs(fc, JobType="SYNC", Type="name", Params="beta", PageSize=30)
    want = {j["JobId"] for j in fleet.jobs if j["type"] == "SYNC" and "beta" in j["name"]}
    assert want and set(job_ids(r)) == want
    r = list_jobs(fc, JobType="SYNC", Type="name", Params="no-such-name-xyz")
    assert job_ids(r) == [] and int(r["TotalRecordCount"]) == 0


def test_instance_search(fleet, fc):
    j = next(x for x in fleet.jobs if x["type"] == "SYNC")
    r = list_jobs(fc, JobType="SYNC", Type="instance", Params=j["InstanceId"])
    assert job_ids(r) == [j["JobId"]]
    assert r["DtsJobList"][0]["DtsInstanceID"] == j["InstanceId"]


def test_dts_job_id_and_instance_id_lists(fleet, fc):
    mig = sorted(fleet.ids(type="MIGRATION"))[:4]
    r = list_jobs(fc, JobType="MIGRATION", DtsJobId=",".join(mig), PageSize=30)
    assert sorted(job_ids(r)) == mig
    insts = [j["InstanceId"] for j in fleet.jobs if j["JobId"] in mig[:2]]
    r = list_jobs(fc, JobType="MIGRATION", DtsInstanceId=",".join(insts), PageSize=30)
    assert sorted(job_ids(r)) == sorted(mig[:2])


def test_tags_filter(fleet, fc):
    r = list_jobs(fc, JobType="MIGRATION", Tags=json.dumps([{"key": "env", "value": "prod"}]), PageSize=30)
    assert set(job_ids(r)) == fleet.ids(tag="prod")
    for item in r["DtsJobList"]:
        tags = {(t.get("TagKey"), t.get("TagValue")) for t in item.get("TagList") or []}
        assert ("env", "prod") in tags, dump(item.get("TagList"))
    r = list_jobs(fc, JobType="SYNC", Tags=json.dumps([{"key": "env", "value": "dev"}]), PageSize=30)
    assert set(job_ids(r)) == fleet.ids(tag="dev")
    r = list_jobs(fc, JobType="SYNC", Tags=json.dumps([{"key": "env", "value": "prod"}]), PageSize=30)
    assert job_ids(r) == []


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_order_by_create_time(fleet, fc, direction):
    r = list_jobs(fc, JobType="MIGRATION", OrderColumn="CreateTime", OrderDirection=direction, PageSize=30)
    items = r["DtsJobList"]
    assert len(items) == len(fleet.ids(type="MIGRATION"))
    times = [it["CreateTime"] for it in items]
    assert times == sorted(times, reverse=(direction == "DESC")), times
    batch = {j["JobId"]: j["batch"] for j in fleet.jobs}
    batches = [batch[it["DtsJobId"]] for it in items]
    assert batches == sorted(batches, reverse=(direction == "DESC")), batches


def test_paging(fleet, fc):
    total = len(fleet.ids(type="MIGRATION"))  # 13
    pages = []
    for n in (1, 2, 3):
        r = list_jobs(fc, JobType="MIGRATION", PageSize=10, PageNumber=n, OrderColumn="CreateTime")
        assert int(r["TotalRecordCount"]) == total
        assert int(r["PageNumber"]) == n
        assert int(r["PageRecordCount"]) == len(r["DtsJobList"])
        pages.append(job_ids(r))
    assert [len(p) for p in pages] == [10, total - 10, 0]
    assert not set(pages[0]) & set(pages[1])
    assert set(pages[0]) | set(pages[1]) == fleet.ids(type="MIGRATION")


@pytest.mark.parametrize("bad", [{"PageSize": "-1"}, {"PageSize": "abc"}, {"PageNumber": "0"},
                                 {"PageNumber": "x"}])
def test_invalid_paging_is_invalid_parameter(fleet, bad):
    raw = fleet.tenant.raw
    name = next(iter(bad))
    r = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "MIGRATION", **bad})
    if r.status == 400 and "Throttling" in r.body.decode():
        time.sleep(1.1)
        r = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "MIGRATION", **bad})
    body = r.json()
    assert r.status == 400, r
    assert body["Code"] == "InvalidParameter", body
    assert body.get("DynamicMessage") == name or name in body.get("Message", ""), body


def test_invalid_job_type_is_invalid_parameter(fleet):
    with pytest.raises(ApiError) as ei:
        list_jobs(fleet.tenant.client("sdk-acs3"), JobType="BACKUP")
    assert ei.value.code == "InvalidParameter"
    assert "JobType" in ei.value.text()


def test_without_db_list(fleet, fc):
    named = next(j for j in fleet.jobs if j["name"] and j["type"] == "SYNC")
    r = list_jobs(fc, JobType="SYNC", DtsJobId=named["JobId"])
    assert r["DtsJobList"][0].get("DbObject"), "DbObject is listed by default"
    r = list_jobs(fc, JobType="SYNC", DtsJobId=named["JobId"], WithoutDbList=True)
    assert not r["DtsJobList"][0].get("DbObject"), "WithoutDbList=true leaves DbObject out"
