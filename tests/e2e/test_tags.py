"""Tags: TagResources, ListTagResources, UntagResources, DescribeTagKeys, DescribeTagValues (seed §5.7).

The response shape of ListTagResources is what the new SDK parses: {"TagResources": {"TagResource": [...]}}.
"""

from __future__ import annotations

import pytest

from dtsclient import REGION, ApiError, is_true
from jobs import create_instance

RT = "ALIYUN::DTS::INSTANCE"


@pytest.fixture
def tagged(new_tenant):
    t = new_tenant("tags")
    c = t.client("sdk-acs3")
    insts = [create_instance(c, "SYNC")["InstanceId"] for _ in range(3)]
    return t, c, insts


def tag_map(c, **params) -> dict:
    """{resource_id: {key: value}} from ListTagResources."""
    p = {"RegionId": REGION, "ResourceType": RT}
    p.update(params)
    r = c.call("ListTagResources", p)
    assert "TagResources" in r, r
    tr = r["TagResources"]
    assert isinstance(tr, dict) and isinstance(tr.get("TagResource", []), list), \
        f"TagResources must be {{'TagResource': [...]}} (what the new SDK parses): {r}"
    out: dict = {}
    for x in tr.get("TagResource", []):
        assert x["ResourceType"] == RT, x
        out.setdefault(x["ResourceId"], {})[x["TagKey"]] = x["TagValue"]
    return out


def test_tag_list_untag_roundtrip(tagged):
    t, c, (i1, i2, i3) = tagged
    r = c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1, i2],
                                "Tag": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "data"}]})
    assert is_true(r.get("Success")), r
    assert tag_map(c, ResourceId=[i1]) == {i1: {"env": "prod", "team": "data"}}
    assert tag_map(c, ResourceId=[i1, i2, i3]) == {i1: {"env": "prod", "team": "data"},
                                                   i2: {"env": "prod", "team": "data"}}

    # Same key again: overwritten. Empty values are allowed.
    c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1],
                            "Tag": [{"Key": "env", "Value": "staging"}, {"Key": "empty", "Value": ""}]})
    assert tag_map(c, ResourceId=[i1]) == {i1: {"env": "staging", "team": "data", "empty": ""}}

    # Search by tag key (and value).
    by_key = tag_map(c, Tag=[{"Key": "env"}])
    assert set(by_key) == {i1, i2}
    by_kv = tag_map(c, Tag=[{"Key": "env", "Value": "prod"}])
    assert set(by_kv) == {i2}

    # The old SDK reads the same.
    old = t.client("sdk-old")
    assert tag_map(old, ResourceId=[i2]) == {i2: {"env": "prod", "team": "data"}}

    # Untag by key.
    r = c.call("UntagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1], "TagKey": ["team"]})
    assert is_true(r.get("Success")), r
    assert tag_map(c, ResourceId=[i1]) == {i1: {"env": "staging", "empty": ""}}

    # Untag everything.
    r = c.call("UntagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i2], "All": True})
    assert is_true(r.get("Success")), r
    assert tag_map(c, ResourceId=[i2]) == {}

    # TagKey wins over All (seed §5.7.3).
    c.call("UntagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1], "TagKey": ["empty"],
                              "All": True})
    assert tag_map(c, ResourceId=[i1]) == {i1: {"env": "staging"}}


def test_tag_keys_and_values(tagged):
    t, c, (i1, i2, i3) = tagged
    c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1],
                            "Tag": [{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "ann"}]})
    c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i2],
                            "Tag": [{"Key": "env", "Value": "dev"}]})
    r = c.call("DescribeTagKeys", {"RegionId": REGION, "ResourceType": RT})
    assert sorted(r["TagKeys"]) == ["env", "owner"], r
    assert int(r.get("TotalCount", 2)) == 2
    r = c.call("DescribeTagValues", {"RegionId": REGION, "ResourceType": RT, "Key": "env"})
    assert sorted(r["TagValues"]) == ["dev", "prod"], r
    r = c.call("DescribeTagKeys", {"RegionId": REGION, "ResourceType": RT, "ResourceId": i2})
    assert r["TagKeys"] == ["env"], r

    # A tag bound to no instance any more disappears (seed §5.7.3).
    c.call("UntagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1], "TagKey": ["owner"]})
    r = c.call("DescribeTagKeys", {"RegionId": REGION, "ResourceType": RT})
    assert sorted(r["TagKeys"]) == ["env"], r


def test_tags_show_in_describe_dts_jobs(tagged):
    t, c, (i1, i2, i3) = tagged
    c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i3],
                            "Tag": [{"Key": "k1", "Value": "v1"}]})
    job = i3[3:]
    r = c.call("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC", "DtsJobId": job})
    tags = [(x.get("TagKey"), x.get("TagValue")) for x in r["DtsJobList"][0].get("TagList") or []]
    assert tags == [("k1", "v1")], r["DtsJobList"][0].get("TagList")


@pytest.mark.parametrize("bad, field", [
    ({"ResourceType": "ALIYUN::ECS::INSTANCE"}, "ResourceType"),
    ({"Tag": [{"Key": "", "Value": "x"}]}, "Tag"),
    ({"ResourceId": None}, "ResourceId"),
])
def test_tag_resources_validation(tagged, bad, field):
    t, c, (i1, i2, i3) = tagged
    p = {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1], "Tag": [{"Key": "a", "Value": "b"}]}
    p.update(bad)
    raw = t.raw
    r = raw.request("TagResources", p)
    body = r.json()
    assert r.status == 400, r
    assert body["Code"] in ("InvalidParameter", "MissingParameter"), body
    assert field in (body.get("DynamicMessage") or "") + body.get("Message", ""), body
    assert tag_map(c, ResourceId=[i1]) == {}, "a refused TagResources changes nothing"


def test_more_than_20_tags_is_refused(tagged):
    t, c, (i1, i2, i3) = tagged
    tags = [{"Key": f"k{n}", "Value": "v"} for n in range(21)]
    with pytest.raises(ApiError):
        c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": [i1], "Tag": tags})
    assert tag_map(c, ResourceId=[i1]) == {}


def test_tag_unknown_instance_is_refused(tagged):
    t, c, _ = tagged
    with pytest.raises(ApiError):
        c.call("TagResources", {"RegionId": REGION, "ResourceType": RT, "ResourceId": ["dtsnosuchinstance00"],
                                "Tag": [{"Key": "a", "Value": "b"}]})
