"""Job helpers shared by the test files: create, configure, describe, wait."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, Optional

from dtsclient import REGION, ApiError, is_true, poll

# Statuses after which nothing happens without a user action.
SETTLED = {"NotConfigured", "NotStarted", "PrecheckFailed", "Failed", "MigrationFailed", "InitializeFailed",
           "Finished", "Suspending", "Synchronizing", "Migrating", "Normal", "Abnormal"}
FAILED = {"Failed", "MigrationFailed", "InitializeFailed"}

# The MySQL->MySQL data path exists: after a passed precheck a SYNC job runs (Initializing, then
# Synchronizing). Paths that are not built yet (e.g. PostgreSQL) fail with UNSUPPORTED_PATH_RE.
EXPECT_DATA_PATH_UNSUPPORTED = False
UNSUPPORTED_PATH_RE = re.compile(r"not (yet )?(supported|implemented)|unsupported", re.I)

CONN_AUTH_ITEMS = ["CHECK_CONN_SRC", "CHECK_AUTH_SRC", "CHECK_CONN_DEST", "CHECK_AUTH_DEST"]
ORDER_NUMS = {"CHECK_CONN_SRC": 10, "CHECK_AUTH_SRC": 15, "CHECK_CONN_DEST": 20, "CHECK_AUTH_DEST": 25}


def create_instance(c, job_type: str = "SYNC", src: str = "MySQL", dst: str = "MySQL", **extra) -> Dict[str, str]:
    params = {
        "Type": job_type,
        "PayType": "PostPaid",
        "SourceEndpointEngineName": src,
        "DestinationEndpointEngineName": dst,
        "SourceRegion": REGION,
        "DestinationRegion": REGION,
        "RegionId": REGION,
        "Quantity": 1,
    }
    if job_type == "SYNC":
        params["InstanceClass"] = "small"
        params["SyncArchitecture"] = "oneway"
    elif job_type == "MIGRATION":
        params["InstanceClass"] = "medium"
    params.update(extra)
    r = c.call("CreateDtsInstance", params)
    assert is_true(r.get("Success")), r
    assert r.get("RequestId"), r
    job_id, inst = r.get("JobId"), r.get("InstanceId")
    assert job_id and inst, f"CreateDtsInstance must return JobId and InstanceId: {r}"
    return {"JobId": job_id, "InstanceId": inst}


def configure_params(job_id: str, mysql, db: str, *, job_type: str = "SYNC", name: str = "e2e job",
                     src_user: Optional[str] = None, src_password: Optional[str] = None,
                     dest_user: Optional[str] = None, dest_password: Optional[str] = None,
                     data_sync: bool = False, dest_port: Optional[int] = None, **extra) -> Dict[str, Any]:
    p = {
        "DtsJobId": job_id,
        "DtsJobName": name,
        "JobType": job_type,
        "SourceEndpointInstanceType": "OTHER",
        "SourceEndpointEngineName": "MySQL",
        "SourceEndpointRegion": REGION,
        "SourceEndpointIP": mysql.host,
        "SourceEndpointPort": str(mysql.port),
        "SourceEndpointUserName": src_user or mysql.user,
        "SourceEndpointPassword": src_password if src_password is not None else mysql.password,
        "DestinationEndpointInstanceType": "OTHER",
        "DestinationEndpointEngineName": "MySQL",
        "DestinationEndpointRegion": REGION,
        "DestinationEndpointIP": mysql.host,
        "DestinationEndpointPort": str(dest_port or mysql.port),
        "DestinationEndpointUserName": dest_user or mysql.user,
        "DestinationEndpointPassword": dest_password if dest_password is not None else mysql.password,
        "DbList": json.dumps({db: {"name": f"{db}_copy", "all": True}}),
        "Reserve": json.dumps({"targetTableMode": "2"}),
        "StructureInitialization": True,
        "DataInitialization": True,
        "DataSynchronization": data_sync,
        "RegionId": REGION,
    }
    p.update(extra)
    return p


def configure(c, job_id: str, mysql, db: str, **kw) -> dict:
    r = c.call("ConfigureDtsJob", configure_params(job_id, mysql, db, **kw))
    assert is_true(r.get("Success")), r
    return r


def detail(c, job_id: str) -> dict:
    return c.call("DescribeDtsJobDetail", {"DtsJobId": job_id, "RegionId": REGION})


def status(c, job_id: str) -> str:
    return detail(c, job_id).get("Status")


def wait_status(c, job_id: str, statuses: Iterable[str], timeout: float = 60) -> dict:
    wanted = set(statuses)
    return poll(lambda: detail(c, job_id), lambda d: d.get("Status") in wanted, timeout=timeout,
                what=f"job {job_id} to reach {sorted(wanted)}")


def wait_leaves(c, job_id: str, statuses: Iterable[str], timeout: float = 60) -> dict:
    transient = set(statuses)
    return poll(lambda: detail(c, job_id), lambda d: d.get("Status") not in transient, timeout=timeout,
                what=f"job {job_id} to leave {sorted(transient)}")


def precheck_status(c, job_id: str) -> dict:
    return c.call("DescribePreCheckStatus", {"DtsJobId": job_id, "JobCode": "01", "StructType": "before",
                                             "RegionId": REGION})


def precheck_items(ps: dict) -> Dict[str, dict]:
    return {it.get("Item"): it for it in (ps.get("JobProgress") or [])}


def precheck_finished(ps: dict) -> bool:
    return ps.get("State") in ("Finished", "Failed", "Success")


def wait_precheck(c, job_id: str, timeout: float = 60) -> dict:
    """Waits until the job has left Prechecking, then returns DescribePreCheckStatus(JobCode=01)."""
    wait_leaves(c, job_id, {"Prechecking", "NotStarted"}, timeout=timeout)
    return poll(lambda: precheck_status(c, job_id), precheck_finished, timeout=10,
                what=f"DescribePreCheckStatus of {job_id} to show a finished State")


def list_jobs(c, **params) -> dict:
    p = {"Region": REGION, "RegionId": REGION}
    p.update(params)
    return describe_jobs_retrying(c, p)


def describe_jobs_retrying(c, params: dict, attempts: int = 8) -> dict:
    """DescribeDtsJobs is throttled at 20 calls/s per AccessKey; like any SDK user, back off and retry."""
    import time

    for i in range(attempts):
        try:
            return c.call("DescribeDtsJobs", params)
        except ApiError as e:
            if "Throttling" in (e.code or "") and i < attempts - 1:
                time.sleep(0.3)
                continue
            raise
    raise AssertionError("unreachable")


def job_ids(listing: dict) -> list:
    return [j.get("DtsJobId") for j in (listing.get("DtsJobList") or [])]


def dump(d: Any) -> str:
    return json.dumps(d, ensure_ascii=False, sort_keys=True, default=str)


def assert_refused(fn, *, mentions: Iterable[str] = ()) -> ApiError:
    """fn() must fail with an ApiError whose text mentions at least one of `mentions` (case-insensitive)."""
    try:
        r = fn()
    except ApiError as e:
        text = e.text().lower()
        assert e.code, f"an error needs a Code: {e}"
        if mentions:
            assert any(m.lower() in text for m in mentions), f"error should mention one of {list(mentions)}: {e}"
        if e.status is not None:
            assert 400 <= e.status < 500 or e.status == 200, f"a refused action is a client error: {e}"
        return e
    raise AssertionError(f"expected an error, got success: {r}")


def make_destination_reject_rows(db: str) -> None:
    """Prepares a destination table the source rows cannot go into (a column is missing), so that
    the job fails in its full load: a real, user-fixable failure for lifecycle tests."""
    from conftest import mysql_exec
    mysql_exec(f"CREATE DATABASE IF NOT EXISTS `{db}_copy`; "
               f"CREATE TABLE IF NOT EXISTS `{db}_copy`.`customer` (id INT PRIMARY KEY);")
