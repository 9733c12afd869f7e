"""The lifecycle of a MySQL->MySQL job on the local MariaDB, driven by the official SDKs.

Seed references: api-catalogue §4.1-4.10, 4.15-4.16, 4.21-4.24, §7 (statuses), §10 (precheck items).
"""

from __future__ import annotations

import json
import re

import pytest

from dtsclient import REGION, ApiError, is_true, poll
from jobs import (make_destination_reject_rows, CONN_AUTH_ITEMS, EXPECT_DATA_PATH_UNSUPPORTED, FAILED, ORDER_NUMS, UNSUPPORTED_PATH_RE,
                  assert_refused, configure, configure_params, create_instance, detail, dump, job_ids,
                  list_jobs, precheck_items, precheck_status, status, wait_leaves, wait_precheck, wait_status)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_instance_is_not_configured(client):
    ids = create_instance(client, "SYNC")
    assert ids["InstanceId"] == "dts" + ids["JobId"], "instance ID is 'dts' + job ID (seed §4)"
    d = detail(client, ids["JobId"])
    assert d["Status"] == "NotConfigured"
    assert d["DtsJobId"] == ids["JobId"]
    assert d["DtsInstanceID"] == ids["InstanceId"]
    assert d.get("PayType") == "PostPaid"
    assert ISO_UTC.match(d.get("CreateTime") or ""), d.get("CreateTime")
    assert d.get("RequestId")


@pytest.mark.parametrize("job_type", ["SYNC", "MIGRATION"])
def test_configure_then_describe_detail(client, raw, mysql, mysql_db, job_type):
    ids = create_instance(client, job_type)
    job = ids["JobId"]
    r = configure(client, job, mysql, mysql_db, job_type=job_type, name=f"cfg-{job_type.lower()}",
                  data_sync=(job_type == "SYNC"))
    assert r.get("DtsJobId") == job
    assert r.get("DtsInstanceId") == ids["InstanceId"]

    d = detail(client, job)
    assert d["Status"] == "NotStarted"
    assert d["DtsJobId"] == job
    assert d["DtsInstanceID"] == ids["InstanceId"]
    assert d["DtsJobName"] == f"cfg-{job_type.lower()}"
    for side in ("SourceEndpoint", "DestinationEndpoint"):
        ep = d[side]
        assert ep["Ip"] == "127.0.0.1", ep
        assert str(ep["Port"]) == str(mysql.port), ep
        assert ep["UserName"] == "root", ep
        assert ep["EngineName"].lower() == "mysql", ep
        assert ep.get("InstanceType", "").upper() == "OTHER", ep
    db_object = json.loads(d["DbObject"])
    assert db_object[mysql_db]["name"] == f"{mysql_db}_copy"
    assert db_object[mysql_db]["all"] is True
    mm = d["MigrationMode"]
    assert mm["StructureInitialization"] is True
    assert mm["DataInitialization"] is True
    assert mm["DataSynchronization"] is (job_type == "SYNC")
    reserved = json.loads(d.get("Reserved") or "{}")
    assert str(reserved.get("targetTableMode")) == "2", reserved

    # No password anywhere in the body, whatever the format.
    for fmt in ("JSON", "XML"):
        body = raw.request("DescribeDtsJobDetail", {"DtsJobId": job}, fmt=fmt).body
        assert mysql.password.encode() not in body, f"{fmt} detail leaks the password"

    listing = list_jobs(client, JobType=job_type, DtsJobId=job)
    assert job_ids(listing) == [job]
    assert listing["DtsJobList"][0]["Status"] == "NotStarted"


def test_start_prechecks_then_fails_honestly(client, mysql, mysql_db):
    ids = create_instance(client, "SYNC")
    job = ids["JobId"]
    configure(client, job, mysql, mysql_db, job_type="SYNC", name="precheck-ok", data_sync=True)
    r = client.call("StartDtsJob", {"DtsJobId": job, "RegionId": REGION})
    assert is_true(r.get("Success")), r
    first = status(client, job)
    assert first != "NotStarted", "StartDtsJob must move the job out of NotStarted at once"
    assert first in {"Prechecking", "PreCheckPass", "Initializing", "Synchronizing"} | FAILED, first

    ps = wait_precheck(client, job)
    items = precheck_items(ps)
    for name in CONN_AUTH_ITEMS:
        assert name in items, f"precheck must report {name}: {dump(ps)}"
        assert items[name]["State"] == "Success", f"{name}: {dump(items[name])}"
        assert items[name].get("Names") == name + "_DETAIL"
        assert int(items[name].get("OrderNum")) == ORDER_NUMS[name]
        assert items[name].get("CanSkip") is False
    assert ps.get("Code") == "01"
    assert int(ps.get("ErrorItem") or 0) == 0, dump(ps)

    if EXPECT_DATA_PATH_UNSUPPORTED:
        d = wait_status(client, job, FAILED, timeout=60)
        msg = d.get("ErrorMessage") or ""
        assert "mysql" in msg.lower(), f"ErrorMessage must name the engine pair: {msg!r}"
        assert UNSUPPORTED_PATH_RE.search(msg), f"ErrorMessage must say the path is not supported: {msg!r}"
    else:
        wait_status(client, job, {"Synchronizing", "Initializing"}, timeout=120)

    # The list shows the same precheck through PrecheckStatus.Detail (seed §3.5).
    listing = list_jobs(client, JobType="SYNC", DtsJobId=job)
    pre = listing["DtsJobList"][0].get("PrecheckStatus") or {}
    detail_items = {x.get("CheckItem"): x for x in pre.get("Detail") or []}
    for name in CONN_AUTH_ITEMS:
        assert detail_items.get(name, {}).get("CheckResult") == "Success", dump(pre)


def test_precheck_with_wrong_destination_password_fails(old_sdk, raw, mysql, mysql_db):
    c = old_sdk
    wrong = "wrong-" + mysql.password + "-x"
    job = create_instance(c, "MIGRATION")["JobId"]
    configure(c, job, mysql, mysql_db, job_type="MIGRATION", name="bad-dest-pw", dest_password=wrong)
    c.call("StartDtsJob", {"DtsJobId": job})
    d = wait_status(c, job, {"PrecheckFailed"}, timeout=60)
    assert d["Status"] == "PrecheckFailed"

    ps = precheck_status(c, job)
    items = precheck_items(ps)
    assert items["CHECK_CONN_SRC"]["State"] == "Success"
    assert items["CHECK_AUTH_SRC"]["State"] == "Success"
    dest = [items.get(n, {}) for n in ("CHECK_CONN_DEST", "CHECK_AUTH_DEST")]
    failed = [it for it in dest if it.get("State") == "Failed"]
    assert failed, f"a destination check must fail: {dump(ps)}"
    reason = " ".join(str(it.get("ErrMsg") or "") + " " + str(it.get("ErrDetail") or "") for it in failed)
    assert re.search(r"access denied|password|login|authenticat", reason, re.I), reason
    assert int(ps.get("ErrorItem") or 0) >= 1

    listing = list_jobs(c, JobType="MIGRATION", DtsJobId=job)
    pre = listing["DtsJobList"][0]["PrecheckStatus"]
    by_item = {x["CheckItem"]: x for x in pre["Detail"]}
    bad = [by_item[n] for n in ("CHECK_CONN_DEST", "CHECK_AUTH_DEST") if by_item.get(n, {}).get("CheckResult") == "Failed"]
    assert bad and all(x.get("FailedReason") for x in bad), dump(pre)

    body = raw.request("DescribePreCheckStatus", {"DtsJobId": job, "JobCode": "01", "StructType": "before"}).body
    assert wrong.encode() not in body

    # Fix the password and start again: the precheck now passes.
    r = c.call("ModifyDtsJobPassword", {"DtsJobId": job, "Endpoint": "dest", "UserName": "root",
                                        "Password": mysql.password})
    assert is_true(r.get("Success")), r
    c.call("StartDtsJob", {"DtsJobId": job})
    ps = wait_precheck(c, job)
    items = precheck_items(ps)
    assert all(items[n]["State"] == "Success" for n in CONN_AUTH_ITEMS), dump(ps)


def test_precheck_with_restricted_source_user(sdk, mysql, mysql_db, mysql_user):
    """A source account that can log in but cannot read the database fails CHECK_AUTH_SRC, not CONN."""
    user, password = mysql_user([])  # USAGE only
    job = create_instance(sdk, "MIGRATION")["JobId"]
    configure(sdk, job, mysql, mysql_db, job_type="MIGRATION", name="weak-src", src_user=user,
              src_password=password)
    sdk.call("StartDtsJob", {"DtsJobId": job})
    wait_status(sdk, job, {"PrecheckFailed"}, timeout=60)
    items = precheck_items(precheck_status(sdk, job))
    assert items["CHECK_AUTH_SRC"]["State"] != "Success", dump(items)
    failed = [items[n] for n in ("CHECK_CONN_SRC", "CHECK_AUTH_SRC") if items[n]["State"] == "Failed"]
    assert failed, dump(items)
    assert all(it.get("ErrMsg") for it in failed), dump(failed)
    assert items["CHECK_CONN_DEST"]["State"] == "Success", dump(items)
    assert items["CHECK_AUTH_DEST"]["State"] == "Success", dump(items)


def test_suspend_not_started_is_refused(client, mysql, mysql_db):
    job = create_instance(client, "SYNC")["JobId"]
    configure(client, job, mysql, mysql_db, name="no-suspend")
    assert_refused(lambda: client.call("SuspendDtsJob", {"DtsJobId": job}),
                   mentions=["NotStarted", "not running", "only a running", "suspend"])
    assert status(client, job) == "NotStarted"


def test_start_not_configured_is_refused(sdk_v2):
    job = create_instance(sdk_v2, "SYNC")["JobId"]
    assert_refused(lambda: sdk_v2.call("StartDtsJob", {"DtsJobId": job}),
                   mentions=["NotConfigured", "configure"])
    assert status(sdk_v2, job) == "NotConfigured"


def test_stop_reset_delete_sync_job(sdk, mysql, mysql_db):
    job = create_instance(sdk, "SYNC")["JobId"]
    configure(sdk, job, mysql, mysql_db, name="stop-reset-delete", data_sync=True)
    sdk.call("StartDtsJob", {"DtsJobId": job})
    wait_leaves(sdk, job, {"NotStarted", "Prechecking", "PreCheckPass"})

    r = sdk.call("StopDtsJob", {"DtsJobId": job})
    assert is_true(r.get("Success"))
    d = detail(sdk, job)
    assert d["Status"] == "Finished"

    r = sdk.call("ResetDtsJob", {"DtsJobId": job})
    assert is_true(r.get("Success"))
    d = detail(sdk, job)
    assert d["Status"] == "NotConfigured"
    assert d.get("DbObject") in (None, "", "{}"), "a reset task forgets its objects"
    assert not (d.get("SourceEndpoint") or {}).get("Ip"), "a reset task forgets its endpoints"

    configure(sdk, job, mysql, mysql_db, name="reconfigured")
    d = detail(sdk, job)
    assert d["Status"] == "NotStarted"
    assert d["DtsJobName"] == "reconfigured"

    r = sdk.call("DeleteDtsJob", {"DtsJobId": job})
    assert is_true(r.get("Success"))
    assert job not in job_ids(list_jobs(sdk, JobType="SYNC"))
    assert job_ids(list_jobs(sdk, JobType="SYNC", DtsJobId=job)) == []
    e = assert_refused(lambda: detail(sdk, job))
    assert job in e.text() or "exist" in e.text().lower() or "not found" in e.text().lower(), e


def test_reset_migration_is_refused(old_sdk, mysql, mysql_db):
    job = create_instance(old_sdk, "MIGRATION")["JobId"]
    configure(old_sdk, job, mysql, mysql_db, job_type="MIGRATION", name="no-reset")
    assert_refused(lambda: old_sdk.call("ResetDtsJob", {"DtsJobId": job}), mentions=["MIGRATION", "reset"])
    assert status(old_sdk, job) == "NotStarted"


def test_batch_actions(client, mysql, mysql_db):
    jobs = []
    for i in range(3):
        j = create_instance(client, "MIGRATION")["JobId"]
        # With incremental sync the job keeps running (or fails while that phase is missing):
        # either way it can still be stopped.
        configure(client, j, mysql, mysql_db, job_type="MIGRATION", name=f"batch-{i}", data_sync=True)
        jobs.append(j)
    a, b, c = jobs

    # Nothing to suspend: refused, nothing changes.
    with pytest.raises(ApiError):
        client.call("SuspendDtsJobs", {"DtsJobIds": f"{a},{b}"})
    assert [status(client, j) for j in jobs] == ["NotStarted"] * 3

    r = client.call("StartDtsJobs", {"DtsJobIds": ",".join(jobs)})
    assert is_true(r.get("Success")), r
    for j in jobs:
        assert status(client, j) != "NotStarted"
    for j in jobs:
        wait_leaves(client, j, {"NotStarted", "Prechecking", "PreCheckPass"})

    r = client.call("StopDtsJobs", {"DtsJobIds": f"{a},{b}"})
    assert is_true(r.get("Success")), r
    assert status(client, a) == "Finished"
    assert status(client, b) == "Finished"
    assert status(client, c) != "Finished"

    r = client.call("DeleteDtsJobs", {"DtsJobIds": ",".join(jobs)})
    assert is_true(r.get("Success")), r
    remaining = set(job_ids(list_jobs(client, JobType="MIGRATION", PageSize=30)))
    assert not remaining & set(jobs)
    for j in jobs:
        with pytest.raises(ApiError):
            detail(client, j)


def test_modify_job_name(client, mysql, mysql_db):
    job = create_instance(client, "SYNC")["JobId"]
    configure(client, job, mysql, mysql_db, name="before-rename")
    r = client.call("ModifyDtsJobName", {"DtsJobId": job, "DtsJobName": "after rename ✓"})
    assert is_true(r.get("Success")), r
    assert detail(client, job)["DtsJobName"] == "after rename ✓"
    found = list_jobs(client, JobType="SYNC", Type="name", Params="after rename")
    assert job in job_ids(found)


def test_modify_password_is_never_shown(client, raw, mysql, mysql_db):
    job = create_instance(client, "SYNC")["JobId"]
    configure(client, job, mysql, mysql_db, name="pw-change")
    from conftest import remember_secret
    import secrets as _s

    for endpoint in ("src", "dest"):
        new_pw = remember_secret(f"NewPw-{endpoint}-" + _s.token_urlsafe(10))
        r = client.call("ModifyDtsJobPassword", {"DtsJobId": job, "Endpoint": endpoint, "UserName": "root",
                                                 "Password": new_pw})
        assert is_true(r.get("Success")), r
        for action, params in (("DescribeDtsJobDetail", {"DtsJobId": job}),
                               ("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC", "DtsJobId": job})):
            for fmt in ("JSON", "XML"):
                body = raw.request(action, params, fmt=fmt).body
                assert new_pw.encode() not in body, f"{action} {fmt} shows the new password"
    assert detail(client, job)["Status"] == "NotStarted"


def test_modify_password_bad_endpoint_is_invalid(sdk, mysql, mysql_db):
    job = create_instance(sdk, "SYNC")["JobId"]
    configure(sdk, job, mysql, mysql_db, name="pw-bad-endpoint")
    e = assert_refused(lambda: sdk.call("ModifyDtsJobPassword", {"DtsJobId": job, "Endpoint": "middle",
                                                                 "UserName": "root", "Password": "x-123456"}))
    assert e.code == "InvalidParameter", e
    assert "Endpoint" in e.text(), e


def test_skip_precheck(sdk, mysql, mysql_db):
    job = create_instance(sdk, "MIGRATION")["JobId"]
    configure(sdk, job, mysql, mysql_db, job_type="MIGRATION", name="skip", dest_password="wrong-pw-123")
    sdk.call("StartDtsJob", {"DtsJobId": job})
    wait_status(sdk, job, {"PrecheckFailed"})
    ps = precheck_status(sdk, job)
    precheck_job = ps.get("JobId") or job

    r = sdk.call("SkipPreCheck", {"DtsJobId": job, "JobId": precheck_job, "SkipPreCheckItems": "CHECK_SAME_OBJ",
                                  "SkipPreCheckNames": "CHECK_SAME_OBJ_DETAIL", "Skip": True})
    assert is_true(r.get("Success")), r
    assert "CHECK_SAME_OBJ" in (r.get("SkipItems") or ""), r
    items = precheck_items(precheck_status(sdk, job))
    if "CHECK_SAME_OBJ" in items:
        assert items["CHECK_SAME_OBJ"].get("Skip") is True, dump(items["CHECK_SAME_OBJ"])

    e = assert_refused(lambda: sdk.call("SkipPreCheck", {
        "DtsJobId": job, "JobId": precheck_job, "SkipPreCheckItems": "CHECK_AUTH_DEST",
        "SkipPreCheckNames": "CHECK_AUTH_DEST_DETAIL", "Skip": True}), mentions=["CHECK_AUTH_DEST"])
    assert e.code
    items = precheck_items(precheck_status(sdk, job))
    assert items["CHECK_AUTH_DEST"].get("Skip") in (False, None)
    assert status(sdk, job) == "PrecheckFailed"


def test_summary_job_detail(client, mysql, mysql_db):
    job = create_instance(client, "MIGRATION")["JobId"]
    configure(client, job, mysql, mysql_db, job_type="MIGRATION", name="summary")
    r = client.call("SummaryJobDetail", {"DtsJobId": job, "JobCode": "02", "SynchronizationDirection": "Forward"})
    assert is_true(r.get("Success")), r
    details = r.get("ProgressSummaryDetails")
    assert isinstance(details, list), f"ProgressSummaryDetails must be a list: {r}"
    keys = {"Table", "Constraint", "Index", "View", "Materialize View", "Type", "Synonym", "Trigger",
            "Function", "Procedure", "Package", "Default", "Rule", "PlanGuide", "Sequence"}
    for it in details:
        assert it.get("Key") in keys, it
        assert int(it.get("State")) in range(6), it
        assert int(it.get("TotalCount")) >= 0, it


def test_summary_job_detail_unknown_job(sdk):
    with pytest.raises(ApiError):
        sdk.call("SummaryJobDetail", {"DtsJobId": "nosuchjob000000", "JobCode": "02",
                                      "SynchronizationDirection": "Forward"})


def test_count_job_by_condition(new_tenant, mysql, mysql_db):
    t = new_tenant("count")
    c = t.client("sdk-acs3")
    s1 = create_instance(c, "SYNC")["JobId"]
    create_instance(c, "SYNC")
    create_instance(c, "MIGRATION")
    configure(c, s1, mysql, mysql_db, name="countme-unique")

    def count(**p):
        q = {"Region": REGION, "RegionId": REGION}
        q.update(p)
        r = c.call("CountJobByCondition", q)
        assert is_true(r.get("Success")), r
        return int(r["TotalRecordCount"])

    assert count(JobType="SYNC") == 2
    assert count(JobType="MIGRATION") == 1
    assert count(JobType="SUBSCRIBE") == 0
    assert count(JobType="SYNC", Status="NotConfigured") == 1
    assert count(JobType="SYNC", Status="NotStarted") == 1
    assert count(JobType="SYNC", Type="name", Params="countme") == 1
    # The old SDK sees the same numbers.
    old = t.client("sdk-old")
    r = old.call("CountJobByCondition", {"Region": REGION, "JobType": "SYNC"})
    assert int(r["TotalRecordCount"]) == 2


def test_configure_by_instance_id(sdk, mysql, mysql_db):
    """ConfigureDtsJob takes DtsJobId or DtsInstanceId (seed §4.2); with neither it is MissingParameter."""
    ids = create_instance(sdk, "SYNC")
    p = configure_params(ids["JobId"], mysql, mysql_db, name="by-instance")
    del p["DtsJobId"]
    p["DtsInstanceId"] = ids["InstanceId"]
    r = sdk.call("ConfigureDtsJob", p)
    assert r.get("DtsJobId") == ids["JobId"]
    assert detail(sdk, ids["JobId"])["DtsJobName"] == "by-instance"

    other = create_instance(sdk, "SYNC")["JobId"]
    p = configure_params(other, mysql, mysql_db, name="by-nothing")
    del p["DtsJobId"]
    with pytest.raises(ApiError) as ei:
        sdk.call("ConfigureDtsJob", p)
    assert ei.value.code == "MissingParameter", ei.value
    assert status(sdk, other) == "NotConfigured"


def test_failed_job_can_be_started_again_but_not_reconfigured(sdk_v2, mysql, mysql_db):
    c = sdk_v2
    job = create_instance(c, "SYNC")["JobId"]
    make_destination_reject_rows(mysql_db)
    configure(c, job, mysql, mysql_db, name="restartable", data_sync=True)
    c.call("StartDtsJob", {"DtsJobId": job})
    first = wait_status(c, job, FAILED)
    # Configure is for tasks that have not started; a failed one is refused and unchanged.
    assert_refused(lambda: c.call("ConfigureDtsJob", configure_params(job, mysql, mysql_db, name="changed")))
    d = detail(c, job)
    assert d["Status"] == first["Status"] and d["DtsJobName"] == "restartable"
    # Start preconditions for sync: NotStarted, Failed or Suspending (seed §7.4): the precheck runs again.
    r = c.call("StartDtsJob", {"DtsJobId": job})
    assert is_true(r.get("Success"))
    again = wait_status(c, job, FAILED)
    assert again["ErrorMessage"], again


def test_finished_migration_cannot_be_restarted(old_sdk, mysql, mysql_db):
    c = old_sdk
    job = create_instance(c, "MIGRATION")["JobId"]
    configure(c, job, mysql, mysql_db, job_type="MIGRATION", name="finished-migration", data_sync=True)
    c.call("StartDtsJob", {"DtsJobId": job})
    wait_leaves(c, job, {"NotStarted", "Prechecking", "PreCheckPass"})
    c.call("StopDtsJob", {"DtsJobId": job})
    assert status(c, job) == "Finished"
    assert_refused(lambda: c.call("StartDtsJob", {"DtsJobId": job}), mentions=["Finished", "restart"])
    assert status(c, job) == "Finished"
