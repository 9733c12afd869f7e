"""Consumer groups of a change-tracking task through the official SDKs (issue 5 part 2, control plane):
the new API (CreateConsumerChannel, DescribeConsumerChannel, ModifyConsumerChannel, DeleteConsumerChannel)
and the old one (CreateConsumerGroup, DescribeConsumerGroup, ModifyConsumerGroupPassword, DeleteConsumerGroup,
ModifyConsumptionTimestamp): the seeds' fields, validation, passwords that never come back, and tenancy."""

from __future__ import annotations

import json
import secrets

import pytest

from conftest import remember_secret
from dtsclient import REGION, ApiError, is_true
from jobs import assert_refused, create_instance, dump


def configured_subscription(c, mysql, db: str = "cg_db") -> dict:
    """A SUBSCRIBE task configured (NotStarted): consumer groups need no running capture."""
    ids = create_instance(c, "SUBSCRIBE")
    r = c.call("ConfigureSubscription", {
        "DtsJobId": ids["JobId"], "DtsJobName": "consumer groups", "RegionId": REGION,
        "SourceEndpointInstanceType": "OTHER", "SourceEndpointEngineName": "MySQL",
        "SourceEndpointIP": mysql.host, "SourceEndpointPort": str(mysql.port),
        "SourceEndpointUserName": mysql.user, "SourceEndpointPassword": mysql.password,
        "DbList": json.dumps({db: {"name": db, "all": True}}),
        "SubscriptionInstanceNetworkType": "classic", "SubscriptionDataTypeDDL": True,
        "SubscriptionDataTypeDML": True,
    })
    assert is_true(r.get("Success")), r
    return ids


def new_password() -> str:
    return remember_secret("Cg" + secrets.token_hex(6) + "9")


def assert_no_password(body, *passwords):
    text = json.dumps(body, ensure_ascii=False)
    for pw in passwords:
        assert pw not in text, f"a password came back: {text}"
    assert "Password" not in text, f"a password field came back: {text}"


@pytest.fixture
def sub(sdk, mysql):
    return configured_subscription(sdk, mysql)


def channels(c, ids, **extra):
    p = {"DtsInstanceId": ids["InstanceId"], "RegionId": REGION}
    p.update(extra)
    return c.call("DescribeConsumerChannel", p)


def test_new_api_create_describe_modify_delete(sdk, sub):
    pw = new_password()
    r = sdk.call("CreateConsumerChannel", {
        "DtsInstanceId": sub["InstanceId"], "RegionId": REGION, "ConsumerGroupName": "订阅组A",
        "ConsumerGroupUserName": "dtstest", "ConsumerGroupPassword": pw})
    assert is_true(r.get("Success")), r
    gid = r["ConsumerGroupID"]
    assert gid.startswith("dts") and len(gid) == 18 and gid[3:].isalnum() and gid == gid.lower(), gid
    assert_no_password(r, pw)

    d = channels(sdk, sub)
    assert_no_password(d, pw)
    assert (d["PageNumber"], d["PageRecordCount"], d["TotalRecordCount"]) == (1, 1, 1), dump(d)
    [ch] = d["ConsumerChannels"]
    assert ch == {"ConsumerGroupId": gid, "ConsumerGroupName": "订阅组A", "ConsumerGroupUserName": "dtstest",
                  "ConsumptionCheckpoint": "", "MessageDelay": -1, "UnconsumedData": -1}, dump(ch)
    # The job ID names the task as well as the instance ID.
    assert channels(sdk, {"InstanceId": sub["JobId"]})["TotalRecordCount"] == 1

    pw2 = new_password()
    sdk.call("ModifyConsumerChannel", {"DtsJobId": sub["JobId"], "RegionId": REGION, "ConsumerGroupId": gid,
                                       "ConsumerGroupName": "订阅组B", "ConsumerGroupUserName": "dtstest2",
                                       "ConsumerGroupPassword": pw2})
    [ch] = channels(sdk, sub)["ConsumerChannels"]
    assert (ch["ConsumerGroupName"], ch["ConsumerGroupUserName"]) == ("订阅组B", "dtstest2"), dump(ch)

    # A second group; user names are unique within the task.
    r2 = sdk.call("CreateConsumerChannel", {
        "DtsJobId": sub["JobId"], "RegionId": REGION, "ConsumerGroupName": "second",
        "ConsumerGroupUserName": "other", "ConsumerGroupPassword": pw})
    assert_refused(lambda: sdk.call("CreateConsumerChannel", {
        "DtsJobId": sub["JobId"], "RegionId": REGION, "ConsumerGroupName": "third",
        "ConsumerGroupUserName": "other", "ConsumerGroupPassword": pw}), mentions=["ConsumerGroupUserName"])
    d = channels(sdk, sub, PageSize=1, PageNumber=2)
    assert (d["TotalRecordCount"], d["PageRecordCount"]) == (2, 1), dump(d)
    assert d["ConsumerChannels"][0]["ConsumerGroupId"] == r2["ConsumerGroupID"]

    sdk.call("DeleteConsumerChannel", {"DtsInstanceId": sub["InstanceId"], "RegionId": REGION,
                                       "ConsumerGroupId": gid})
    d = channels(sdk, sub)
    assert [c["ConsumerGroupId"] for c in d["ConsumerChannels"]] == [r2["ConsumerGroupID"]], dump(d)
    assert_refused(lambda: sdk.call("DeleteConsumerChannel", {"DtsInstanceId": sub["InstanceId"],
                                                              "RegionId": REGION, "ConsumerGroupId": gid}),
                   mentions=[gid])


@pytest.mark.parametrize("kind", ["sdk-old", "sdk-acs3"])
def test_old_api_create_describe_password_delete(tenant, mysql, kind):
    c = tenant.client(kind)
    sub = configured_subscription(c, mysql)
    pw = new_password()
    r = c.call("CreateConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"], "ConsumerGroupName": "测试订阅组",
                                       "ConsumerGroupUserName": "dtstest", "ConsumerGroupPassword": pw})
    assert is_true(r.get("Success")), r
    gid = r["ConsumerGroupID"]
    assert_no_password(r, pw)

    d = c.call("DescribeConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"]})
    assert_no_password(d, pw)
    assert (d["PageNumber"], d["PageRecordCount"], d["TotalRecordCount"]) == (1, 1, 1), dump(d)
    [ch] = d["ConsumerChannels"]["DescribeConsumerChannel"]
    assert ch == {"ConsumerGroupID": gid, "ConsumerGroupName": "测试订阅组", "ConsumerGroupUserName": "dtstest",
                  "ConsumptionCheckpoint": "", "MessageDelay": -1, "UnconsumedData": -1}, dump(ch)

    pw2 = new_password()
    base = {"SubscriptionInstanceId": sub["InstanceId"], "ConsumerGroupID": gid}
    e = assert_refused(lambda: c.call("ModifyConsumerGroupPassword", {
        **base, "ConsumerGroupPassword": pw + "x", "consumerGroupNewPassword": pw2}), mentions=["password"])
    assert pw not in e.text()
    assert_refused(lambda: c.call("ModifyConsumerGroupPassword", {
        **base, "ConsumerGroupPassword": pw, "consumerGroupNewPassword": "weakpassword"}), mentions=["password"])
    assert_refused(lambda: c.call("ModifyConsumerGroupPassword", {
        **base, "ConsumerGroupPassword": pw, "consumerGroupNewPassword": pw2, "ConsumerGroupUserName": "nobody"}),
        mentions=["ConsumerGroupUserName"])
    r = c.call("ModifyConsumerGroupPassword", {**base, "ConsumerGroupPassword": pw, "consumerGroupNewPassword": pw2,
                                                "ConsumerGroupUserName": "dtstest"})
    assert_no_password(r, pw, pw2)
    # The old password no longer counts; the new one does.
    assert_refused(lambda: c.call("ModifyConsumerGroupPassword", {
        **base, "ConsumerGroupPassword": pw, "consumerGroupNewPassword": new_password()}), mentions=["password"])
    c.call("ModifyConsumerGroupPassword", {**base, "ConsumerGroupPassword": pw2,
                                           "consumerGroupNewPassword": new_password()})

    c.call("ModifyConsumptionTimestamp", {"SubscriptionInstanceId": sub["InstanceId"],
                                          "ConsumptionTimestamp": "2019-10-15T17:20:03Z"})
    assert_refused(lambda: c.call("ModifyConsumptionTimestamp", {"SubscriptionInstanceId": sub["InstanceId"],
                                                                 "ConsumptionTimestamp": "yesterday"}),
                   mentions=["ConsumptionTimestamp"])
    assert_refused(lambda: c.call("ModifyConsumptionTimestamp", {"SubscriptionInstanceId": sub["InstanceId"],
                                                                 "ConsumptionTimestamp": "2999-01-01T00:00:00Z"}),
                   mentions=["ConsumptionTimestamp"])

    c.call("DeleteConsumerGroup", base)
    d = c.call("DescribeConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"]})
    assert d["TotalRecordCount"] == 0, dump(d)
    assert_refused(lambda: c.call("DeleteConsumerGroup", base), mentions=[gid])
    c.call("DeleteDtsJob", {"DtsJobId": sub["JobId"]})


def test_groups_of_a_deleted_task_are_gone(raw, mysql):
    sub = configured_subscription(raw, mysql)
    gid = raw.call("CreateConsumerChannel", {"DtsJobId": sub["JobId"], "ConsumerGroupName": "g",
                                             "ConsumerGroupUserName": "u1", "ConsumerGroupPassword": new_password()})[
        "ConsumerGroupID"]
    raw.call("DeleteDtsJob", {"DtsJobId": sub["JobId"]})
    assert_refused(lambda: raw.call("DeleteConsumerChannel", {"DtsJobId": sub["JobId"], "ConsumerGroupId": gid}),
                   mentions=[sub["JobId"]])


@pytest.mark.parametrize("field, value, mentions", [
    ("ConsumerGroupUserName", "bad-user", "ConsumerGroupUserName"),
    ("ConsumerGroupUserName", "a" * 17, "ConsumerGroupUserName"),
    ("ConsumerGroupPassword", "alllowercase", "ConsumerGroupPassword"),
    ("ConsumerGroupPassword", "Ab1", "ConsumerGroupPassword"),
    ("ConsumerGroupPassword", "Ab1" * 11, "ConsumerGroupPassword"),
    ("ConsumerGroupName", "n" * 129, "ConsumerGroupName"),
], ids=["user-dash", "user-17", "pw-one-class", "pw-short", "pw-long", "name-129"])
def test_validation(raw, sub, field, value, mentions):
    p = {"DtsJobId": sub["JobId"], "ConsumerGroupName": "g", "ConsumerGroupUserName": "dtsuser",
         "ConsumerGroupPassword": new_password()}
    p[field] = value
    e = assert_refused(lambda: raw.call("CreateConsumerChannel", p), mentions=[mentions])
    assert (e.status, e.code, e.dynamic_message) == (400, "InvalidParameter", field), e
    assert e.data.get("ErrMessage") == "The Value of Input Parameter %s is not valid.", e
    # The same rules hold on the old API and on modify.
    old = {"SubscriptionInstanceId": sub["InstanceId"], "ConsumerGroupName": "g", "ConsumerGroupUserName": "dtsuser",
           "ConsumerGroupPassword": new_password()}
    old[field] = value
    assert_refused(lambda: raw.call("CreateConsumerGroup", old), mentions=[mentions])
    assert channels(raw, sub)["TotalRecordCount"] == 0
    gid = raw.call("CreateConsumerChannel", {**p, field: "dtsuser" if "User" in field else
                                             ("g" if "Name" in field else new_password())})["ConsumerGroupID"]
    assert_refused(lambda: raw.call("ModifyConsumerChannel", {"DtsJobId": sub["JobId"], "ConsumerGroupId": gid,
                                                              field: value}), mentions=[mentions])


def test_missing_and_unknown(sdk, old_sdk, raw, mysql, sub):
    pw = new_password()
    assert_refused(lambda: raw.call("CreateConsumerChannel", {"ConsumerGroupName": "g", "ConsumerGroupUserName": "u",
                                                              "ConsumerGroupPassword": pw}),
                   mentions=["DtsInstanceId", "DtsJobId"])
    for missing in ("ConsumerGroupName", "ConsumerGroupUserName", "ConsumerGroupPassword"):
        p = {"DtsJobId": sub["JobId"], "ConsumerGroupName": "g", "ConsumerGroupUserName": "u",
             "ConsumerGroupPassword": pw}
        del p[missing]
        e = assert_refused(lambda: raw.call("CreateConsumerChannel", p), mentions=[missing])
        assert e.code == "MissingParameter", e
    for c in (sdk, raw):
        e = assert_refused(lambda: c.call("ModifyConsumerChannel", {
            "DtsJobId": sub["JobId"], "RegionId": REGION, "ConsumerGroupId": "dtsnosuchgroup12345",
            "ConsumerGroupName": "x"}), mentions=["dtsnosuchgroup12345"])
        assert e.status == 404, e
    assert_refused(lambda: old_sdk.call("DeleteConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"],
                                                                "ConsumerGroupID": "dtsnosuchgroup12345"}),
                   mentions=["dtsnosuchgroup12345"])
    assert_refused(lambda: sdk.call("DescribeConsumerChannel", {"DtsJobId": "nosuchjob123456", "RegionId": REGION}),
                   mentions=["nosuchjob123456"])
    # A group belongs to one task: another task cannot name it.
    other = configured_subscription(raw, mysql)
    gid = raw.call("CreateConsumerChannel", {"DtsJobId": sub["JobId"], "ConsumerGroupName": "g",
                                             "ConsumerGroupUserName": "u", "ConsumerGroupPassword": pw})[
        "ConsumerGroupID"]
    assert_refused(lambda: raw.call("DeleteConsumerChannel", {"DtsJobId": other["JobId"], "ConsumerGroupId": gid}),
                   mentions=[gid])
    assert channels(raw, sub)["TotalRecordCount"] == 1


def test_only_subscription_tasks_have_consumer_groups(sdk, old_sdk):
    sync = create_instance(sdk, "SYNC")
    pw = new_password()
    e = assert_refused(lambda: sdk.call("CreateConsumerChannel", {
        "DtsJobId": sync["JobId"], "RegionId": REGION, "ConsumerGroupName": "g", "ConsumerGroupUserName": "u",
        "ConsumerGroupPassword": pw}), mentions=["change tracking", "SUBSCRIBE"])
    assert e.code == "InvalidParameter", e
    assert_refused(lambda: sdk.call("DescribeConsumerChannel", {"DtsInstanceId": sync["InstanceId"],
                                                                "RegionId": REGION}), mentions=["change tracking"])
    assert_refused(lambda: old_sdk.call("CreateConsumerGroup", {
        "SubscriptionInstanceId": sync["InstanceId"], "ConsumerGroupName": "g", "ConsumerGroupUserName": "u",
        "ConsumerGroupPassword": pw}), mentions=["change tracking"])
    assert_refused(lambda: old_sdk.call("ModifyConsumptionTimestamp", {
        "SubscriptionInstanceId": sync["InstanceId"], "ConsumptionTimestamp": "2019-10-15T17:20:03Z"}),
        mentions=["change tracking"])


def test_another_tenant_cannot_see_or_touch_the_groups(new_tenant, mysql):
    a, b = new_tenant("cg-a"), new_tenant("cg-b")
    ca, cb, cb_old = a.client("sdk-acs3"), b.client("sdk-acs3"), b.client("sdk-old")
    sub = configured_subscription(ca, mysql)
    pw = new_password()
    gid = ca.call("CreateConsumerChannel", {"DtsJobId": sub["JobId"], "RegionId": REGION, "ConsumerGroupName": "g",
                                            "ConsumerGroupUserName": "u", "ConsumerGroupPassword": pw})[
        "ConsumerGroupID"]
    with pytest.raises(ApiError) as missing:
        cb.call("DescribeConsumerChannel", {"DtsJobId": "nosuchjob123456", "RegionId": REGION})
    attempts = [
        lambda: cb.call("DescribeConsumerChannel", {"DtsJobId": sub["JobId"], "RegionId": REGION}),
        lambda: cb.call("CreateConsumerChannel", {"DtsJobId": sub["JobId"], "RegionId": REGION,
                                                  "ConsumerGroupName": "x", "ConsumerGroupUserName": "x",
                                                  "ConsumerGroupPassword": new_password()}),
        lambda: cb.call("ModifyConsumerChannel", {"DtsJobId": sub["JobId"], "RegionId": REGION,
                                                  "ConsumerGroupId": gid, "ConsumerGroupName": "hijacked"}),
        lambda: cb.call("DeleteConsumerChannel", {"DtsJobId": sub["JobId"], "RegionId": REGION,
                                                  "ConsumerGroupId": gid}),
        lambda: cb_old.call("DescribeConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"]}),
        lambda: cb_old.call("ModifyConsumerGroupPassword", {"SubscriptionInstanceId": sub["InstanceId"],
                                                            "ConsumerGroupID": gid, "ConsumerGroupPassword": pw,
                                                            "consumerGroupNewPassword": new_password()}),
        lambda: cb_old.call("DeleteConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"],
                                                    "ConsumerGroupID": gid}),
        lambda: cb_old.call("ModifyConsumptionTimestamp", {"SubscriptionInstanceId": sub["InstanceId"],
                                                           "ConsumptionTimestamp": "2019-10-15T17:20:03Z"}),
    ]
    for attempt in attempts:
        with pytest.raises(ApiError) as foreign:
            attempt()
        assert foreign.value.code == "InvalidJobId", foreign.value
        assert foreign.value.status == missing.value.status, foreign.value
    [ch] = channels(ca, sub)["ConsumerChannels"]
    assert (ch["ConsumerGroupId"], ch["ConsumerGroupName"]) == (gid, "g"), dump(ch)


def test_xml_answers_follow_the_samples(raw, sub):
    pw = new_password()
    gid = raw.call("CreateConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"], "ConsumerGroupName": "g",
                                           "ConsumerGroupUserName": "u", "ConsumerGroupPassword": pw})[
        "ConsumerGroupID"]
    r = raw.request("DescribeConsumerGroup", {"SubscriptionInstanceId": sub["InstanceId"]}, fmt="XML")
    assert r.status == 200, r
    root = r.xml()
    assert root.tag == "DescribeConsumerGroupResponse"
    assert root.find("ConsumerChannels/DescribeConsumerChannel/ConsumerGroupID").text == gid
    r = raw.request("DescribeConsumerChannel", {"DtsJobId": sub["JobId"]}, fmt="XML")
    root = r.xml()
    assert root.tag == "DescribeConsumerChannelResponse"
    assert root.find("ConsumerChannels/ConsumerGroupId").text == gid
    assert root.find("ConsumerChannels/MessageDelay").text == "-1"
    assert pw.encode() not in r.body
