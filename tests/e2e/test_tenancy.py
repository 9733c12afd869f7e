"""Each AccessKey is a tenant: it sees and changes only its own instances and jobs (issue 2 item 2)."""

from __future__ import annotations

import pytest

from dtsclient import REGION, ApiError, is_true
from jobs import configure, create_instance, detail, job_ids, list_jobs, status

RT = "ALIYUN::DTS::INSTANCE"


@pytest.fixture
def two(new_tenant, mysql, mysql_db):
    a, b = new_tenant("tenant-a"), new_tenant("tenant-b")
    ca, cb = a.client("sdk-acs3"), b.client("sdk-old")
    ja = create_instance(ca, "SYNC")
    jb = create_instance(cb, "SYNC")
    configure(ca, ja["JobId"], mysql, mysql_db, name="owned-by-a")
    configure(cb, jb["JobId"], mysql, mysql_db, name="owned-by-b")
    ca.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [ja["InstanceId"]],
                             "Tag": [{"Key": "owner", "Value": "a"}]})
    return a, b, ca, cb, ja, jb


def test_lists_are_separate(two):
    a, b, ca, cb, ja, jb = two
    for jt in ("SYNC", "MIGRATION", "SUBSCRIBE"):
        assert ja["JobId"] not in job_ids(list_jobs(cb, JobType=jt, PageSize=30))
        assert jb["JobId"] not in job_ids(list_jobs(ca, JobType=jt, PageSize=30))
    assert job_ids(list_jobs(ca, JobType="SYNC")) == [ja["JobId"]]
    assert job_ids(list_jobs(cb, JobType="SYNC")) == [jb["JobId"]]
    assert job_ids(list_jobs(cb, JobType="SYNC", DtsJobId=ja["JobId"])) == []
    assert job_ids(list_jobs(cb, JobType="SYNC", Type="instance", Params=ja["InstanceId"])) == []
    assert job_ids(list_jobs(cb, JobType="SYNC", Type="name", Params="owned-by-a")) == []
    r = cb.call("CountJobByCondition", {"Region": REGION, "JobType": "SYNC"})
    assert int(r["TotalRecordCount"]) == 1


def test_foreign_job_looks_like_a_missing_one(two):
    a, b, ca, cb, ja, jb = two
    with pytest.raises(ApiError) as foreign:
        detail(cb, ja["JobId"])
    with pytest.raises(ApiError) as missing:
        detail(cb, "nosuchjob123456")
    assert foreign.value.code == missing.value.code, "do not reveal that another tenant's job exists"
    assert foreign.value.status == missing.value.status


@pytest.mark.parametrize("action, params", [
    ("StartDtsJob", lambda j: {"DtsJobId": j}),
    ("StartDtsJobs", lambda j: {"DtsJobIds": j}),
    ("DeleteDtsJob", lambda j: {"DtsJobId": j}),
    ("DeleteDtsJobs", lambda j: {"DtsJobIds": j}),
    ("ModifyDtsJobName", lambda j: {"DtsJobId": j, "DtsJobName": "hijacked"}),
    ("ModifyDtsJobPassword", lambda j: {"DtsJobId": j, "Endpoint": "src", "UserName": "root",
                                        "Password": "hijack-pw-1"}),
    ("ResetDtsJob", lambda j: {"DtsJobId": j}),
    ("StopDtsJob", lambda j: {"DtsJobId": j}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_foreign_job_cannot_be_changed(two, action, params):
    a, b, ca, cb, ja, jb = two
    with pytest.raises(ApiError):
        cb.call(action, params(ja["JobId"]))
    d = detail(ca, ja["JobId"])
    assert d["Status"] == "NotStarted"
    assert d["DtsJobName"] == "owned-by-a"


def test_foreign_instance_cannot_be_tagged_or_listed(two):
    a, b, ca, cb, ja, jb = two
    with pytest.raises(ApiError):
        cb.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [ja["InstanceId"]],
                                 "Tag": [{"Key": "owner", "Value": "b"}]})
    with pytest.raises(ApiError):
        cb.call("UntagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [ja["InstanceId"]],
                                   "All": True})
    # Listing a foreign instance's tags: either an empty list or the same error as a missing instance.
    try:
        r = cb.call("ListTagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [ja["InstanceId"]]})
        assert not (r.get("TagResources") or {}).get("TagResource"), r
    except ApiError as e:
        with pytest.raises(ApiError) as missing:
            cb.call("ListTagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": ["dtsnosuchinst0000"]})
        assert (e.code, e.status) == (missing.value.code, missing.value.status), e
    r = cb.call("DescribeTagKeys", {"RegionId": REGION, "ResourceType": RT})
    assert "owner" not in (r.get("TagKeys") or []), r
    r = ca.call("ListTagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [ja["InstanceId"]]})
    tags = {(x["TagKey"], x["TagValue"]) for x in r["TagResources"]["TagResource"]}
    assert tags == {("owner", "a")}


def test_mixed_batch_does_not_touch_the_foreign_job(two):
    a, b, ca, cb, ja, jb = two
    try:
        cb.call("DeleteDtsJobs", {"DtsJobIds": f"{jb['JobId']},{ja['JobId']}"})
    except ApiError:
        pass
    assert status(ca, ja["JobId"]) == "NotStarted"


@pytest.mark.parametrize("action, params", [
    ("DescribePreCheckStatus", lambda j: {"DtsJobId": j, "JobCode": "01", "StructType": "before"}),
    ("SummaryJobDetail", lambda j: {"DtsJobId": j, "JobCode": "02", "SynchronizationDirection": "Forward"}),
    ("SuspendDtsJob", lambda j: {"DtsJobId": j}),
    ("ConfigureDtsJob", None),
], ids=lambda v: v if isinstance(v, str) else "")
def test_foreign_job_is_invisible_to_other_actions(two, mysql, mysql_db, action, params):
    from jobs import configure_params

    a, b, ca, cb, ja, jb = two
    p = params(ja["JobId"]) if params else configure_params(ja["JobId"], mysql, mysql_db, name="hijack")
    with pytest.raises(ApiError):
        cb.call(action, p)
    d = detail(ca, ja["JobId"])
    assert (d["Status"], d["DtsJobName"]) == ("NotStarted", "owned-by-a")
