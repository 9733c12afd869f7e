"""The `opendts` command line: AccessKeys (create / list / delete) and `serve` start-up errors."""

from __future__ import annotations

import re
import subprocess

from conftest import BIN, remember_secret
from dtsclient import REGION, RawClient


def test_accesskey_create_text_output(server):
    out = server.cli("accesskey", "create", "--data-dir", str(server.data_dir), "--name", "text-output")
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    ak = re.search(r"^AccessKeyId:\s*(\S+)$", out.stdout, re.M)
    secret = re.search(r"^AccessKeySecret:\s*(\S+)$", out.stdout, re.M)
    assert ak and secret and len(lines) == 2, out.stdout
    remember_secret(secret.group(1))
    r = RawClient(server.port, ak.group(1), secret.group(1)).request("DescribeDtsJobs", {"Region": REGION})
    assert r.status == 200, r
    listed = server.cli("accesskey", "list", "--data-dir", str(server.data_dir))
    assert listed.returncode == 0
    row = [ln for ln in listed.stdout.splitlines() if ak.group(1) in ln]
    assert row and "text-output" in row[0], listed.stdout
    assert secret.group(1) not in listed.stdout


def test_accesskey_delete_unknown_fails(server):
    out = server.cli("accesskey", "delete", "--data-dir", str(server.data_dir), "LTAInosuchkeyxxxxxxxxxxx")
    assert out.returncode != 0
    assert out.stderr.strip() or out.stdout.strip(), "say what went wrong"


def test_serve_on_a_busy_port_fails_clearly(server, tmp_path):
    p = subprocess.run([str(BIN), "serve", "--listen", server.endpoint, "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert re.search(r"address|in use|bind", p.stderr, re.I), p.stderr
