"""One test per error code of issue 2 item 3, in the seeds' error format (seed §2.6)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from dtsclient import REGION, ApiError, NewSdkClient, OldSdkClient, RawClient, string_to_sign, utc_timestamp
from jobs import configure_params, create_instance, detail, status

SIG_PREFIX = "Specified signature is not matched with our calculation. server string to sign is:"
INVALID_TEMPLATE = "The Value of Input Parameter %s is not valid."


def error_body(r) -> dict:
    body = r.json()
    for k in ("RequestId", "HostId", "Code", "Message"):
        assert body.get(k), f"error body lacks {k}: {body}"
    return body


# ---------------------------------------------------------------------------------------------- MissingParameter

def test_missing_parameter(raw):
    r = raw.request("DescribeDtsJobDetail", {})
    assert r.status == 400, r
    body = error_body(r)
    assert body["Code"] == "MissingParameter"
    assert "DtsJobId" in body["Message"] + str(body.get("DynamicMessage", "")), body


def test_missing_parameter_old_sdk(old_sdk):
    with pytest.raises(ApiError) as ei:
        old_sdk.call("StartDtsJob", {})
    assert ei.value.code == "MissingParameter"
    assert ei.value.status == 400
    assert "ServerException" in ei.value.kind


# ---------------------------------------------------------------------------------------------- InvalidParameter

@pytest.mark.parametrize("field, value", [
    ("DbList", '{"db": {"name": "x", "all": tru'),          # not JSON
    ("DbList", '["db"]'),                                   # JSON, not an object
    ("DbList", '{"db": {"name": "x", "all": "yes"}}'),      # `all` not a boolean
    ("DbList", '{"db": {"name": "x", "all": false, "Table": {"t": {"name": "t2", "all": "no"}}}}'),
    ("Reserve", '{"targetTableMode": '),                    # not JSON
    ("Reserve", '{"targetTableMode": "5"}'),                # only "0" or "2"
    ("JobType", "BACKUP"),
    ("SourceEndpointPort", "not-a-port"),
])
def test_invalid_parameter_names_the_field(raw, mysql, mysql_db, field, value):
    job = create_instance(raw, "SYNC")["JobId"]
    p = configure_params(job, mysql, mysql_db, name="invalid")
    p[field] = value
    body_params = {k: p.pop(k) for k in ("DbList", "Reserve")}
    r = raw.request("ConfigureDtsJob", p, body_params=body_params)
    assert r.status == 400, r
    body = error_body(r)
    assert body["Code"] == "InvalidParameter", body
    # DynamicMessage names the parameter, possibly down to the key inside it (DbList.db.all).
    dyn = body.get("DynamicMessage") or ""
    assert dyn == field or dyn.startswith(field + "."), body
    # Message: the seeds' template, or the template filled in (a reason may follow).
    assert body["Message"] == INVALID_TEMPLATE or \
        body["Message"].startswith(INVALID_TEMPLATE.replace("%s", dyn)), body
    if "ErrMessage" in body:
        assert body["ErrMessage"] == INVALID_TEMPLATE or \
            body["ErrMessage"].startswith(INVALID_TEMPLATE.replace("%s", dyn)), body
    # The seeds' in-body fields, where they show them.
    if "Success" in body:
        assert body["Success"] is False
    if "ErrCode" in body:
        assert body["ErrCode"] == "InvalidParameter"
    # The error changed nothing.
    assert status(raw, job) == "NotConfigured"


def test_invalid_parameter_through_the_sdk(sdk, mysql, mysql_db):
    job = create_instance(sdk, "SYNC")["JobId"]
    p = configure_params(job, mysql, mysql_db, name="invalid-sdk")
    p["DbList"] = "{not json"
    with pytest.raises(ApiError) as ei:
        sdk.call("ConfigureDtsJob", p)
    e = ei.value
    assert e.code == "InvalidParameter" and e.status == 400, e
    assert e.data.get("DynamicMessage") == "DbList", e
    assert status(sdk, job) == "NotConfigured"


# ---------------------------------------------------------------------------------------------- signatures

def test_signature_does_not_match_raw(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION}, secret="not-the-secret")
    assert r.status == 400, r
    body = error_body(r)
    assert body["Code"] == "SignatureDoesNotMatch"
    assert body["Message"].startswith(SIG_PREFIX), body["Message"]
    server_sts = body["Message"][len(SIG_PREFIX):]
    assert server_sts == r.string_to_sign, "the server canonicalises the request as the signer does"


def test_signature_does_not_match_sdks(tenant, server):
    for c in (NewSdkClient(server.port, tenant.ak, "wrong-secret"),
              NewSdkClient(server.port, tenant.ak, "wrong-secret", v2=True)):
        with pytest.raises(ApiError) as ei:
            c.call("DescribeDtsJobs", {"Region": REGION})
        assert ei.value.code == "SignatureDoesNotMatch", ei.value
        assert ei.value.status == 400
        assert "ClientException" in ei.value.kind
    # The old SDK parses the Message after ':' and must not crash; when the server's string to sign
    # equals its own it reports InvalidAccessKeySecret.
    with pytest.raises(ApiError) as ei:
        OldSdkClient(server.port, tenant.ak, "wrong-secret").call("DescribeDtsJobs", {"Region": REGION})
    assert ei.value.kind.endswith("ServerException"), ei.value
    assert ei.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeySecret"), ei.value
    assert ei.value.status == 400


def test_tampered_request_is_rejected(raw, mysql, mysql_db):
    """A request whose parameters changed after signing is refused and changes nothing."""
    job = create_instance(raw, "SYNC")["JobId"]
    p = configure_params(job, mysql, mysql_db, name="tampered", src_password="tamper-pw", dest_password="tamper-pw")
    body = {k: p.pop(k) for k in ("DbList", "Reserve")}
    good = raw.request("DescribeDtsJobs", {"Region": REGION})  # any valid signature
    assert good.status == 200
    r = raw.request("ConfigureDtsJob", p, body_params=body, signature=good.sent["Signature"])
    assert r.status == 400
    assert r.json()["Code"] == "SignatureDoesNotMatch"
    assert status(raw, job) == "NotConfigured"


def test_unsupported_signature_method(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION}, overrides={"SignatureMethod": "HMAC-MD5"})
    assert 400 <= r.status < 500
    assert error_body(r)["Code"]


# ---------------------------------------------------------------------------------------------- access keys

def test_unknown_access_key(server):
    c = RawClient(server.port, "LTAInosuchkeyxxxxxxxxxxx", "whatever")
    r = c.request("DescribeDtsJobs", {"Region": REGION})
    assert r.status == 404, r
    body = error_body(r)
    assert body["Code"] == "InvalidAccessKeyId.NotFound"
    assert body["Message"] == "Specified access key is not found."
    with pytest.raises(ApiError) as ei:
        NewSdkClient(server.port, "LTAInosuchkeyxxxxxxxxxxx", "whatever").call("DescribeDtsJobs", {"Region": REGION})
    assert ei.value.code == "InvalidAccessKeyId.NotFound" and ei.value.status == 404


def test_deleted_access_key(server):
    t = server.create_access_key("to-delete")
    assert t.raw.request("DescribeDtsJobs", {"Region": REGION}).status == 200
    listed = server.cli("accesskey", "list", "--data-dir", str(server.data_dir))
    assert listed.returncode == 0 and t.ak in listed.stdout
    assert t.secret not in listed.stdout, "accesskey list must not print secrets"
    out = server.cli("accesskey", "delete", "--data-dir", str(server.data_dir), t.ak)
    assert out.returncode == 0, out.stderr
    r = t.raw.request("DescribeDtsJobs", {"Region": REGION})
    assert r.status == 404 and r.json()["Code"] == "InvalidAccessKeyId.NotFound", r


def test_security_token_is_refused_clearly(raw, tenant, server):
    r = raw.request("DescribeDtsJobs", {"Region": REGION}, overrides={"SecurityToken": "sts-token-123"})
    assert 400 <= r.status < 500, r
    body = error_body(r)
    assert "SecurityToken" in body["Message"] or "STS" in body["Message"] or "SecurityToken" in body["Code"], body
    with pytest.raises(ApiError) as ei:
        NewSdkClient(server.port, tenant.ak, tenant.secret, security_token="sts-token-123").call(
            "DescribeDtsJobs", {"Region": REGION})
    assert 400 <= (ei.value.status or 0) < 500


# ---------------------------------------------------------------------------------------------- timestamps, nonces

@pytest.mark.parametrize("offset", [-20 * 60, +20 * 60])
def test_timestamp_out_of_window(raw, offset):
    r = raw.request("DescribeDtsJobs", {"Region": REGION}, overrides={"Timestamp": utc_timestamp(offset)})
    assert r.status == 400, r
    assert error_body(r)["Code"] == "InvalidTimeStamp.Expired"


def test_timestamp_inside_window(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION}, overrides={"Timestamp": utc_timestamp(-10 * 60)})
    assert r.status == 200, r


def test_malformed_timestamp(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION}, overrides={"Timestamp": "yesterday"})
    assert r.status == 400, r
    assert error_body(r)["Code"].startswith("InvalidTimeStamp"), r


def test_signature_nonce_reuse(raw):
    nonce = uuid.uuid4().hex
    first = raw.request("CreateDtsInstance", {"Type": "SYNC", "PayType": "PostPaid"},
                        overrides={"SignatureNonce": nonce})
    assert first.status == 200, first
    second = raw.request("CreateDtsInstance", {"Type": "SYNC", "PayType": "PostPaid"},
                         overrides={"SignatureNonce": nonce})
    assert second.status == 400, second
    assert error_body(second)["Code"] == "SignatureNonceUsed"


def test_nonce_reuse_changes_nothing(new_tenant):
    t = new_tenant("nonce")
    raw = t.raw
    nonce = uuid.uuid4().hex
    assert raw.request("CreateDtsInstance", {"Type": "SYNC", "PayType": "PostPaid"},
                       overrides={"SignatureNonce": nonce}).status == 200
    assert raw.request("CreateDtsInstance", {"Type": "SYNC", "PayType": "PostPaid"},
                       overrides={"SignatureNonce": nonce}).status == 400
    r = raw.call("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"})
    assert int(r["TotalRecordCount"]) == 1, "the replayed CreateDtsInstance must not create a second instance"


# ---------------------------------------------------------------------------------------------- actions, version

def test_unknown_action(raw):
    r = raw.request("DescribeEverything", {})
    assert r.status in (400, 404), r
    body = error_body(r)
    assert body["Code"] == "InvalidAction.NotFound"


def test_missing_action(raw):
    r = raw.request("", {}, overrides={"Action": None})
    assert 400 <= r.status < 500, r
    assert error_body(r)["Code"]


def test_wrong_version(raw):
    r = raw.request("DescribeDtsJobs", {"Region": REGION}, overrides={"Version": "2018-08-01"})
    assert 400 <= r.status < 500, r
    assert error_body(r)["Code"]


# ---------------------------------------------------------------------------------------------- throttling

def _burst(raw: RawClient, n: int):
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        barrier.wait()
        results[i] = raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_throttling(new_tenant, server):
    a = new_tenant("throttle-a")
    b = new_tenant("throttle-b")
    time.sleep(1.1)
    results = _burst(a.raw, 45)
    ok = [r for r in results if r.status == 200]
    throttled = [r for r in results if r.status != 200]
    assert throttled, "45 concurrent DescribeDtsJobs calls must exceed 20 calls/s"
    assert 20 <= len(ok) <= 40, f"{len(ok)} calls passed; the limit is 20 per second"
    for r in throttled:
        assert r.status == 400, r
        body = error_body(r)
        assert "Throttling" in body["Code"], body

    # Per AccessKey: another key is not throttled by this burst.
    assert b.raw.request("DescribeDtsJobs", {"Region": REGION}).status == 200

    # The SDKs see a Throttling error (the new SDK as ThrottlingException or ClientException).
    for c in (a.client("sdk-acs3"), a.client("sdk-old")):
        deadline = time.monotonic() + 5
        err = None
        while time.monotonic() < deadline and err is None:
            try:
                c.call("DescribeDtsJobs", {"Region": REGION})
            except ApiError as e:
                err = e
        assert err is not None, f"{c.kind} never saw a throttled answer"
        assert "Throttling" in err.code, err
        assert err.status == 400, err

    # The limit recovers.
    time.sleep(1.2)
    assert a.raw.request("DescribeDtsJobs", {"Region": REGION}).status == 200
    # Other actions are not limited by it.
    _burst(a.raw, 30)
    assert a.raw.request("DescribeDtsJobDetail", {"DtsJobId": "nosuchjob"}).json().get("Code") != "Throttling.User"


@pytest.mark.skip(reason="InternalError cannot be provoked through the API by design; the server maps "
                         "unexpected failures to it without a stack trace (unit-tested in Rust)")
def test_internal_error():
    pass


# ---------------------------------------------------------------------------------------------- envelope

def test_every_error_has_request_and_host_id_and_request_ids_are_unique(raw, server):
    stranger = RawClient(server.port, "LTAInosuchkeyxxxxxxxxxxx", "x")
    responses = [
        raw.request("DescribeDtsJobDetail", {}),
        raw.request("DescribeDtsJobDetail", {"DtsJobId": "nosuchjob0000"}),
        raw.request("DescribeDtsJobs", {"Region": REGION}, secret="bad"),
        raw.request("DescribeDtsJobs", {"Region": REGION}, overrides={"Timestamp": utc_timestamp(-3600)}),
        raw.request("NoSuchAction", {}),
        stranger.request("DescribeDtsJobs", {"Region": REGION}),
        raw.request("DescribeDtsJobDetail", {}, fmt="XML"),
    ]
    ids = []
    for r in responses:
        assert r.status >= 400, r
        if r.body.lstrip().startswith(b"<"):
            root = r.xml()
            rid, host, code, msg = (root.findtext(k) for k in ("RequestId", "HostId", "Code", "Message"))
        else:
            b = r.json()
            rid, host, code, msg = b.get("RequestId"), b.get("HostId"), b.get("Code"), b.get("Message")
        assert rid and host and code and msg, r
        assert "panicked" not in r.body.decode(errors="replace") and "backtrace" not in r.body.decode(errors="replace")
        ids.append(rid)
    ok = [raw.request("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"}) for _ in range(3)]
    ids += [r.json()["RequestId"] for r in ok if r.status == 200]
    assert len(ids) == len(set(ids)), f"RequestIds repeat: {ids}"


def test_unknown_job_is_a_clear_error(sdk):
    with pytest.raises(ApiError) as ei:
        sdk.call("DescribeDtsJobDetail", {"DtsJobId": "nosuchjob000000"})
    e = ei.value
    assert e.status in (400, 404), e
    assert "nosuchjob000000" in e.text() or "DtsJobId" in e.text(), e


# ---------------------------------------------------------------------------------------------- ACS3 requests

def test_acs3_raw_request_is_accepted(raw):
    """Our ACS3 signer agrees with the server (the new SDK's default signing, seen on the wire)."""
    r = raw.request_acs3("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"})
    assert r.status == 200, r
    assert r.json().get("RequestId")


def test_acs3_wrong_secret(raw):
    r = raw.request_acs3("DescribeDtsJobs", {"Region": REGION}, secret="not-the-secret")
    assert r.status == 400, r
    assert error_body(r)["Code"] == "SignatureDoesNotMatch"


def test_acs3_query_changed_after_signing(raw):
    r = raw.request_acs3("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"},
                         tamper_query={"JobType": "MIGRATION"})
    assert r.status == 400, r
    assert error_body(r)["Code"] == "SignatureDoesNotMatch"


def test_acs3_body_changed_after_signing(raw):
    """x-acs-content-sha256 covers the body: a body that does not match it is refused."""
    r = raw.request_acs3("DescribeDtsJobs", {"Region": REGION}, body_params={"JobType": "SYNC"},
                         extra_headers={"x-acs-content-sha256": "0" * 64})
    assert r.status == 400, r
    assert error_body(r)["Code"] == "SignatureDoesNotMatch"


def test_acs3_expired_date(raw):
    r = raw.request_acs3("DescribeDtsJobs", {"Region": REGION}, date=utc_timestamp(-20 * 60))
    assert r.status == 400, r
    assert error_body(r)["Code"] == "InvalidTimeStamp.Expired"


def test_acs3_nonce_reuse(raw):
    nonce = uuid.uuid4().hex
    assert raw.request_acs3("DescribeDtsJobs", {"Region": REGION}, nonce=nonce).status == 200
    r = raw.request_acs3("DescribeDtsJobs", {"Region": REGION}, nonce=nonce)
    assert r.status == 400, r
    assert error_body(r)["Code"] == "SignatureNonceUsed"


def test_acs3_unknown_key(server):
    r = RawClient(server.port, "LTAInosuchkeyxxxxxxxxxxx", "x").request_acs3("DescribeDtsJobs", {"Region": REGION})
    assert r.status == 404, r
    assert error_body(r)["Code"] == "InvalidAccessKeyId.NotFound"


def test_acs3_security_token_header(raw):
    r = raw.request_acs3("DescribeDtsJobs", {"Region": REGION}, extra_headers={"x-acs-security-token": "sts-abc"})
    assert 400 <= r.status < 500, r
    assert error_body(r)["Code"]


def test_modify_password_to_the_same_one_is_refused(sdk, mysql, mysql_db):
    """Seed §4.15: the new password must differ from the current one."""
    from jobs import configure

    job = create_instance(sdk, "SYNC")["JobId"]
    configure(sdk, job, mysql, mysql_db, name="same-pw")
    with pytest.raises(ApiError) as ei:
        sdk.call("ModifyDtsJobPassword", {"DtsJobId": job, "Endpoint": "src", "UserName": "root",
                                          "Password": mysql.password})
    assert "Password" in ei.value.text(), ei.value
