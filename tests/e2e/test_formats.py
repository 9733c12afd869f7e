"""Transport and formats: XML (the default) and JSON, GET and POST, query and form body (seed §2.1, §2.5)."""

from __future__ import annotations

import json

import pytest

from dtsclient import REGION, is_true
from jobs import configure, create_instance, detail


def test_xml_when_asked(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"}, fmt="XML")
    assert r.status == 200, r
    assert "xml" in (r.header("Content-Type") or "").lower(), r.headers
    root = r.xml()
    assert root.tag == "DescribeDtsJobsResponse"
    assert root.findtext("RequestId")
    assert root.findtext("TotalRecordCount") is not None
    assert root.findtext("Success") == "true"


def test_xml_is_the_default(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"}, fmt=None)
    assert r.status == 200, r
    assert r.body.lstrip().startswith(b"<"), r.body[:200]
    root = r.xml()
    assert root.tag == "DescribeDtsJobsResponse"
    assert root.findtext("RequestId")


def test_format_is_case_insensitive(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"}, fmt="json")
    assert r.status == 200
    assert "RequestId" in r.json()


def test_xml_error(raw):
    r = raw.request("DescribeDtsJobDetail", {}, fmt="XML")  # DtsJobId missing
    assert r.status == 400, r
    root = r.xml()
    assert root.tag in ("Error", "DescribeDtsJobDetailResponse"), root.tag
    assert root.findtext("Code") == "MissingParameter"
    assert root.findtext("Message")
    assert root.findtext("RequestId")
    assert root.findtext("HostId")


def test_xml_detail_of_a_configured_job(raw, mysql, mysql_db):
    job = create_instance(raw, "SYNC")["JobId"]
    configure(raw, job, mysql, mysql_db, name="xml <&> job")
    r = raw.request("DescribeDtsJobDetail", {"DtsJobId": job}, fmt="XML")
    root = r.xml()
    assert root.tag == "DescribeDtsJobDetailResponse"
    assert root.findtext("DtsJobId") == job
    assert root.findtext("DtsJobName") == "xml <&> job", "XML text must be escaped and round-trip"
    assert root.findtext("Status") == "NotStarted"
    assert root.find("SourceEndpoint").findtext("Ip") == "127.0.0.1"
    db_object = json.loads(root.findtext("DbObject"))
    assert mysql_db in db_object
    assert root.find("MigrationMode").findtext("StructureInitialization") == "true"


@pytest.mark.parametrize("kind", ["sdk-acs3", "sdk-v2", "sdk-old"])
def test_sdks_get_json(tenant, kind):
    r = tenant.client(kind).call("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"})
    assert r.get("RequestId")
    assert isinstance(r.get("DtsJobList"), list)


def test_get_with_everything_in_the_query(raw):
    job = create_instance(raw, "MIGRATION")["JobId"]
    r = raw.request("DescribeDtsJobDetail", {"DtsJobId": job}, method="GET")
    assert r.status == 200, r
    assert r.json()["DtsJobId"] == job
    assert r.json()["Status"] == "NotConfigured"


def test_post_with_everything_in_the_form_body(raw, mysql, mysql_db):
    from jobs import configure_params

    job = create_instance(raw, "SYNC")["JobId"]
    p = configure_params(job, mysql, mysql_db, name="all-in-body")
    r = raw.request("ConfigureDtsJob", p, all_in_body=True)
    assert r.status == 200, r
    assert r.sent.get("Action") == "ConfigureDtsJob"
    d = detail(raw, job)
    assert d["Status"] == "NotStarted"
    assert d["DtsJobName"] == "all-in-body"


def test_post_query_and_body_are_merged(raw, mysql, mysql_db):
    """What the SDKs do for ConfigureDtsJob: most parameters in the query, DbList and Reserve in the body."""
    from jobs import configure_params

    job = create_instance(raw, "SYNC")["JobId"]
    p = configure_params(job, mysql, mysql_db, name="query+body")
    body = {"DbList": p.pop("DbList"), "Reserve": p.pop("Reserve")}
    r = raw.request("ConfigureDtsJob", p, body_params=body)
    assert r.status == 200, r
    d = detail(raw, job)
    assert mysql_db in json.loads(d["DbObject"])


@pytest.mark.parametrize("kind", ["sdk-acs3", "sdk-v2", "sdk-old", "raw"])
def test_special_characters_survive_signing(tenant, mysql, mysql_db, kind):
    """Spaces, '+', '*', '~', '/', '&', '=', and non-ASCII: both sides must percent-encode alike."""
    c = tenant.client(kind)
    job = create_instance(c, "SYNC")["JobId"]
    name = "名字 a+b*c~d/e&f=g%h 'q' \"dq\""
    configure(c, job, mysql, mysql_db, name=name)
    assert detail(c, job)["DtsJobName"] == name
    r = c.call("ModifyDtsJobName", {"DtsJobId": job, "DtsJobName": name + " ✓"})
    assert is_true(r.get("Success"))
    assert detail(c, job)["DtsJobName"] == name + " ✓"


def test_booleans_parse_case_insensitively(raw, mysql, mysql_db):
    from jobs import configure_params

    job = create_instance(raw, "SYNC")["JobId"]
    p = configure_params(job, mysql, mysql_db, name="bools")
    p.update({"StructureInitialization": "True", "DataInitialization": "FALSE", "DataSynchronization": "true"})
    raw.call("ConfigureDtsJob", p)
    mm = detail(raw, job)["MigrationMode"]
    assert (mm["StructureInitialization"], mm["DataInitialization"], mm["DataSynchronization"]) == (True, False, True)


def test_region_id_defaults(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"}, overrides={"RegionId": None})
    assert r.status == 200, r
    assert r.json().get("RequestId")


def test_xml_arrays_repeat_without_wrapper(new_tenant):
    """In XML, repeated elements appear without a wrapper: <DtsJobList> once per job (seed §2.5)."""
    t = new_tenant("xml-arrays")
    raw = t.raw
    jobs = {create_instance(raw, "SYNC")["JobId"] for _ in range(2)}
    root = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"}, fmt="XML").xml()
    items = root.findall("DtsJobList")
    assert {it.findtext("DtsJobId") for it in items} == jobs, [ET_dump(root)]


def ET_dump(root):
    import xml.etree.ElementTree as ET
    return ET.tostring(root)[:1000]
