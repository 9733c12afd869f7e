"""A minimal DTS OpenAPI client for benchmarks: signature v1 (HMAC-SHA1), stdlib only.

Benchmarks use it instead of the official SDKs so that client overhead stays
small next to the server time being measured.
"""
import base64
import hashlib
import hmac
import http.client
import json
import time
import urllib.parse
import uuid


def _encode(value: str) -> str:
    return urllib.parse.quote(value, safe="~")


class RpcClient:
    def __init__(self, host: str, port: int, access_key_id: str, secret: str):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.access_key_id = access_key_id
        self.secret = secret

    def call(self, action: str, **params) -> dict:
        query = {
            "Action": action,
            "Version": "2020-01-01",
            "Format": "JSON",
            "AccessKeyId": self.access_key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": uuid.uuid4().hex,
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "RegionId": "cn-hangzhou",
        }
        query.update({k: str(v) for k, v in params.items()})
        canonical = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
        to_sign = "GET&%2F&" + _encode(canonical)
        digest = hmac.new((self.secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
        query["Signature"] = base64.b64encode(digest).decode()
        path = "/?" + "&".join(f"{_encode(k)}={_encode(v)}" for k, v in query.items())
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        body = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"{action} failed: HTTP {resp.status} {body}")
        return body
