"""No password or secret in any response body, log line or plain file of the data dir (issue 2).

Runs last (see conftest.pytest_collection_modifyitems): it greps what the whole suite left behind, after
one more flow of its own with distinctive passwords.
"""

from __future__ import annotations

import secrets as _s
from pathlib import Path

from conftest import SECRETS, SERVER_FILES, remember_secret
from dtsclient import RECORDED_BODIES, REGION
from jobs import configure, configure_params, create_instance, detail, wait_leaves, wait_precheck


def test_a_full_flow_with_distinctive_secrets(server, new_tenant, mysql, mysql_db, mysql_user):
    t = new_tenant("secrets")
    user, password = mysql_user([f"GRANT ALL PRIVILEGES ON *.* TO {{user}}"])
    for kind in ("sdk-acs3", "sdk-v2", "sdk-old", "raw"):
        c = t.client(kind)
        job = create_instance(c, "SYNC")["JobId"]
        configure(c, job, mysql, mysql_db, name=f"secrets-{kind}", src_user=user, src_password=password,
                  dest_user=user, dest_password=password, data_sync=True)
        c.call("StartDtsJob", {"DtsJobId": job})
        wait_precheck(c, job)
        new_pw = remember_secret("Rot-" + _s.token_urlsafe(12))
        c.call("ModifyDtsJobPassword", {"DtsJobId": job, "Endpoint": "src", "UserName": user, "Password": new_pw})
        c.call("DescribeConnectionStatus", {
            "SourceEndpointInstanceType": "LocalInstance", "SourceEndpointEngineName": "MySQL",
            "SourceEndpointIP": mysql.host, "SourceEndpointPort": str(mysql.port),
            "SourceEndpointUserName": user, "SourceEndpointPassword": password,
            "DestinationEndpointInstanceType": "LocalInstance", "DestinationEndpointEngineName": "MySQL",
            "DestinationEndpointIP": mysql.host, "DestinationEndpointPort": str(mysql.port),
            "DestinationEndpointUserName": user, "DestinationEndpointPassword": "wrong-" + password,
            "RegionId": REGION})
        detail(c, job)
        c.call("DescribeDtsJobs", {"Region": REGION, "JobType": "SYNC"})
        c.call("DescribePreCheckStatus", {"DtsJobId": job, "JobCode": "01", "StructType": "before"})
    # Bad-signature and unknown-key attempts carry a secret in the request too.
    t.raw.request("DescribeDtsJobs", {"Region": REGION}, secret=t.secret + "x")
    remember_secret("wrong-" + password)


def _files(paths):
    for p in paths:
        p = Path(p)
        if p.is_file():
            yield p
        elif p.is_dir():
            yield from (f for f in p.rglob("*") if f.is_file())


def test_no_secret_anywhere(server):
    secrets = sorted({s for s in SECRETS if s and len(s) >= 8})
    assert len(secrets) >= 4, secrets
    hits = []
    for i, body in enumerate(RECORDED_BODIES):
        for s in secrets:
            if s.encode() in body:
                hits.append(f"response body #{i} contains {s!r}: {body[:300]!r}")
    files = list(_files(SERVER_FILES))
    assert any(f.suffix == ".log" for f in files), "the server log was not captured"
    for f in files:
        data = f.read_bytes()
        for s in secrets:
            if s.encode() in data:
                hits.append(f"{f} contains {s!r}")
    assert not hits, "secrets leaked:\n" + "\n".join(hits[:50])
    assert len(RECORDED_BODIES) > 50, "the suite should have recorded many responses"


def test_signature_error_does_not_echo_passwords(raw, mysql, mysql_db):
    """The SignatureDoesNotMatch message repeats the server's string to sign; it must not repeat a password
    that was in the rejected request."""
    job = create_instance(raw, "SYNC")["JobId"]
    local_pw = "Echo-" + _s.token_urlsafe(12)
    p = configure_params(job, mysql, mysql_db, name="echo", src_password=local_pw, dest_password=local_pw)
    r = raw.request("ConfigureDtsJob", p, secret="not-the-secret")
    assert r.status == 400
    assert r.json()["Code"] == "SignatureDoesNotMatch"
    assert local_pw.encode() not in r.body, "the signature error echoes the password of the request"
