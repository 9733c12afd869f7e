"""Restart the server mid-way: every job, status, configuration, precheck result and tag is still there."""

from __future__ import annotations

import json

from dtsclient import REGION, ApiError
from jobs import (FAILED, make_destination_reject_rows, configure, create_instance, detail, job_ids, list_jobs, precheck_items, precheck_status,
                  wait_leaves, wait_status)

RT = "ALIYUN::DTS::INSTANCE"
STABLE_FIELDS = ("DtsJobId", "DtsInstanceID", "DtsJobName", "Status", "DbObject", "MigrationMode",
                 "SourceEndpoint", "DestinationEndpoint", "CreateTime", "PayType", "ErrorMessage", "Reserved")


def snapshot(c, job):
    d = detail(c, job)
    return {k: d.get(k) for k in STABLE_FIELDS}


def test_restart_keeps_everything(server_factory, mysql, mysql_db):
    srv = server_factory()
    t = srv.create_access_key("restart")
    c = t.client("sdk-acs3")

    jobs = {}
    jobs["not_configured"] = create_instance(c, "SYNC")["JobId"]
    jobs["not_started"] = create_instance(c, "MIGRATION")["JobId"]
    configure(c, jobs["not_started"], mysql, mysql_db, job_type="MIGRATION", name="restart-not-started")
    jobs["failed"] = create_instance(c, "SYNC")["JobId"]
    make_destination_reject_rows(mysql_db)
    configure(c, jobs["failed"], mysql, mysql_db, name="restart-failed", data_sync=True)
    c.call("StartDtsJob", {"DtsJobId": jobs["failed"]})
    jobs["precheck_failed"] = create_instance(c, "MIGRATION")["JobId"]
    configure(c, jobs["precheck_failed"], mysql, mysql_db, job_type="MIGRATION", name="restart-pf",
              dest_password="wrong-password-x")
    c.call("StartDtsJob", {"DtsJobId": jobs["precheck_failed"]})
    jobs["finished"] = create_instance(c, "SYNC")["JobId"]
    configure(c, jobs["finished"], mysql, mysql_db, name="restart-finished", data_sync=True)
    c.call("StartDtsJob", {"DtsJobId": jobs["finished"]})
    wait_leaves(c, jobs["finished"], {"NotStarted", "Prechecking", "PreCheckPass"})
    c.call("StopDtsJob", {"DtsJobId": jobs["finished"]})
    jobs["deleted"] = create_instance(c, "SYNC")["JobId"]
    c.call("DeleteDtsJob", {"DtsJobId": jobs["deleted"]})

    wait_status(c, jobs["failed"], FAILED)
    wait_status(c, jobs["precheck_failed"], {"PrecheckFailed"})
    inst = "dts" + jobs["not_started"]
    c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [inst],
                            "Tag": [{"Key": "survives", "Value": "restart"}]})

    live = {k: v for k, v in jobs.items() if k != "deleted"}
    before = {k: snapshot(c, j) for k, j in live.items()}
    assert before["finished"]["Status"] == "Finished"
    prechecks = {k: precheck_items(precheck_status(c, live[k])) for k in ("failed", "precheck_failed")}
    listing_before = {jt: sorted(job_ids(list_jobs(c, JobType=jt, PageSize=30))) for jt in ("SYNC", "MIGRATION")}

    code = srv.restart()
    assert code == 0, f"SIGTERM must shut the server down cleanly, exit code {code}; log:\n{srv.log_tail()}"

    c = t.client("sdk-old")  # a different client after the restart; the same AccessKey still works
    after = {k: snapshot(c, j) for k, j in live.items()}
    for k in live:
        for f in STABLE_FIELDS:
            a, b = before[k][f], after[k][f]
            if f in ("DbObject", "Reserved") and a and b:
                a, b = json.loads(a), json.loads(b)
            assert a == b, f"{k}.{f} changed across the restart: {before[k][f]!r} -> {after[k][f]!r}"
    for k in ("failed", "precheck_failed"):
        items = precheck_items(precheck_status(c, live[k]))
        assert {n: i.get("State") for n, i in items.items()} == {n: i.get("State") for n, i in prechecks[k].items()}
    assert {jt: sorted(job_ids(list_jobs(c, JobType=jt, PageSize=30))) for jt in ("SYNC", "MIGRATION")} \
        == listing_before
    try:
        detail(c, jobs["deleted"])
        raise AssertionError("a deleted job came back after the restart")
    except ApiError:
        pass
    r = c.call("ListTagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [inst]})
    assert [(x["TagKey"], x["TagValue"]) for x in r["TagResources"]["TagResource"]] == [("survives", "restart")]

    # New jobs after the restart get fresh IDs and the old ones keep working.
    new = create_instance(c, "SYNC")["JobId"]
    assert new not in jobs.values()
    configure(c, jobs["not_configured"], mysql, mysql_db, name="configured-after-restart")
    assert detail(c, jobs["not_configured"])["Status"] == "NotStarted"


def test_restart_during_precheck_does_not_leave_the_job_stuck(server_factory, mysql, mysql_db):
    srv = server_factory()
    t = srv.create_access_key("restart-busy")
    c = t.client("sdk-v2")
    job = create_instance(c, "SYNC")["JobId"]
    configure(c, job, mysql, mysql_db, name="busy", data_sync=True)
    c.call("StartDtsJob", {"DtsJobId": job})
    code = srv.restart()
    assert code == 0, f"exit code {code}; log:\n{srv.log_tail()}"
    d = wait_leaves(c, job, {"Prechecking", "PreCheckPass"}, timeout=60)
    assert d["Status"] in FAILED | {"PrecheckFailed", "NotStarted", "Synchronizing", "Initializing"}, d["Status"]


def test_access_keys_survive_restart(server_factory):
    srv = server_factory()
    t = srv.create_access_key("persisted")
    assert t.raw.request("DescribeDtsJobs", {"Region": REGION}).status == 200
    assert srv.restart() == 0
    r = t.raw.request("DescribeDtsJobs", {"Region": REGION})
    assert r.status == 200, r
