"""Three ways to call an OpenDTS server, behind one interface.

* ``NewSdkClient``: the official ``alibabacloud-dts20200101`` SDK, ACS3-HMAC-SHA256 by default or
  signature v2 (v1 on the wire) with ``signature_algorithm="v2"``.
* ``OldSdkClient``: the official ``aliyun-python-sdk-core`` + ``aliyun-python-sdk-dts`` (signature v1).
* ``RawClient``: a small signature-v1 signer written here, for what the SDKs cannot send (XML, GET,
  bad signatures, stale timestamps, reused nonces, unknown actions).

Every client has ``call(action, params) -> dict`` that returns the response body as a dict, or raises
``ApiError``. A 200 answer with ``Success: false`` is an error too (the seeds' in-body error form).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import http.client
import json
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterable, List, Optional
from urllib.parse import quote

API_VERSION = "2020-01-01"
REGION = "cn-hangzhou"

# Every response body any client saw, for the secrets test (bytes).
RECORDED_BODIES: List[bytes] = []
_RECORD_LOCK = threading.Lock()


def record_body(body: bytes) -> None:
    with _RECORD_LOCK:
        RECORDED_BODIES.append(body)


class ApiError(Exception):
    """An error answer, whatever client produced it."""

    def __init__(self, code, message, status=None, request_id=None, data=None, kind="", exc=None):
        self.code = code or ""
        self.message = message or ""
        self.status = status
        self.request_id = request_id
        self.data = data if isinstance(data, dict) else {}
        self.kind = kind  # which client / exception class raised it
        self.exc = exc
        super().__init__(f"[{kind}] HTTP {status} {code}: {message} (RequestId {request_id}) {self.data}")

    @property
    def dynamic_message(self) -> str:
        return str(self.data.get("DynamicMessage") or "")

    def text(self) -> str:
        """Everything human-readable in the error, for loose `in` checks."""
        parts = [self.code, self.message, self.dynamic_message,
                 str(self.data.get("ErrMessage") or ""), str(self.data.get("Message") or "")]
        return " ".join(p for p in parts if p)


def is_true(v) -> bool:
    """`Success` is a Boolean on most actions and the String "true" on some (seed §12.4 #25)."""
    return v is True or (isinstance(v, str) and v.lower() == "true")


def _in_body_error(body: dict, status, kind) -> Optional[ApiError]:
    if isinstance(body, dict) and "Success" in body and not is_true(body.get("Success")) \
            and body.get("Success") is not None:
        return ApiError(body.get("ErrCode") or body.get("Code"), body.get("ErrMessage") or body.get("Message"),
                        status, body.get("RequestId"), body, kind)
    return None


# --------------------------------------------------------------------------------------------
# Signature v1 (HMAC-SHA1, parameters in the query or the form body)
# --------------------------------------------------------------------------------------------

def pct(s: str) -> str:
    """RFC 3986 percent-encoding as Alibaba Cloud RPC signing uses it (space = %20, ~ kept)."""
    return quote(str(s), safe="~")


def canonical_query(params: Dict[str, str]) -> str:
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()) if k != "Signature")


def string_to_sign(method: str, params: Dict[str, str]) -> str:
    return f"{method.upper()}&{pct('/')}&{pct(canonical_query(params))}"


def sign_v1(method: str, params: Dict[str, str], secret: str) -> str:
    sts = string_to_sign(method, params)
    digest = hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def utc_timestamp(offset_seconds: float = 0) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def flatten(params: Dict[str, Any]) -> Dict[str, str]:
    """Python values to wire strings: lists become `Name.N` / `Name.N.Key` (as the SDKs flatten them)."""
    out: Dict[str, str] = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            for i, item in enumerate(v, 1):
                if isinstance(item, dict):
                    for sk, sv in item.items():
                        if sv is not None:
                            out[f"{k}.{i}.{sk}"] = _wire(sv)
                else:
                    out[f"{k}.{i}"] = _wire(item)
        elif isinstance(v, dict):
            out[k] = json.dumps(v)
        else:
            out[k] = _wire(v)
    return out


def _wire(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class RawResponse:
    def __init__(self, status: int, headers: Dict[str, str], body: bytes, sent: Dict[str, str],
                 string_to_sign: str):
        self.status = status
        self.headers = headers
        self.body = body
        self.sent = sent
        self.string_to_sign = string_to_sign

    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<RawResponse {self.status} {self.body[:500]!r}>"


class RawClient:
    """Signs requests itself with signature v1. Everything about a request can be overridden."""

    kind = "raw"

    def __init__(self, port: int, access_key_id: str, secret: str, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.ak = access_key_id
        self.secret = secret

    def common(self, action: str, fmt: Optional[str] = "JSON") -> Dict[str, str]:
        p = {
            "Action": action,
            "Version": API_VERSION,
            "AccessKeyId": self.ak,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": uuid.uuid4().hex,
            "Timestamp": utc_timestamp(),
            "RegionId": REGION,
        }
        if fmt is not None:
            p["Format"] = fmt
        return p

    def request(self, action: str, params: Optional[Dict[str, Any]] = None, *, method: str = "POST",
                fmt: Optional[str] = "JSON", body_params: Optional[Dict[str, Any]] = None,
                all_in_body: bool = False, overrides: Optional[Dict[str, Optional[str]]] = None,
                secret: Optional[str] = None, signature: Optional[str] = None,
                headers: Optional[Dict[str, str]] = None, timeout: float = 30) -> RawResponse:
        """Sends one request.

        `params` go in the query string (or in the body with all_in_body), `body_params` in a form
        body. `overrides` replaces common parameters (None removes one) before signing.
        """
        q = self.common(action, fmt)
        q.update(flatten(params or {}))
        for k, v in (overrides or {}).items():
            if v is None:
                q.pop(k, None)
            else:
                q[k] = v
        b = flatten(body_params or {})
        signed = dict(q)
        signed.update(b)
        sts = string_to_sign(method, signed)
        sig = signature if signature is not None else sign_v1(method, signed, secret if secret is not None else self.secret)
        if all_in_body:
            b.update(q)
            q = {}
            b["Signature"] = sig
        else:
            q["Signature"] = sig
        path = "/"
        if q:
            path += "?" + "&".join(f"{pct(k)}={pct(v)}" for k, v in q.items())
        body = None
        hdrs = {"Accept": "*/*", "User-Agent": "opendts-e2e-raw"}
        if b:
            body = "&".join(f"{pct(k)}={pct(v)}" for k, v in b.items()).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            rh = {k: v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        record_body(data)
        sent = dict(q)
        sent.update(b)
        return RawResponse(status, rh, data, sent, sts)

    def request_acs3(self, action: str, params: Optional[Dict[str, Any]] = None, *,
                     body_params: Optional[Dict[str, Any]] = None, date: Optional[str] = None,
                     nonce: Optional[str] = None, secret: Optional[str] = None,
                     extra_headers: Optional[Dict[str, str]] = None, tamper_query: Optional[Dict[str, str]] = None,
                     timeout: float = 30) -> RawResponse:
        """An ACS3-HMAC-SHA256 request, signed the way the new SDK signs it (every header it sends is signed).
        `tamper_query` changes the query after signing."""
        q = flatten(params or {})
        b = flatten(body_params or {})
        body = "&".join(f"{pct(k)}={pct(v)}" for k, v in b.items()).encode() if b else b""
        payload_hash = hashlib.sha256(body).hexdigest()
        headers = {
            "host": f"{self.host}:{self.port}",
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": date or utc_timestamp(),
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "x-acs-content-sha256": payload_hash,
            "accept": "application/json",
            "user-agent": "opendts-e2e-acs3",
        }
        if b:
            headers["content-type"] = "application/x-www-form-urlencoded"
        headers.update({k.lower(): v for k, v in (extra_headers or {}).items()})
        canon_query = "&".join(f"{k}={pct(v)}" for k, v in sorted(q.items()))
        names = sorted(headers)
        canon_headers = "".join(f"{k}:{str(headers[k]).strip()}\n" for k in names)
        signed = ";".join(names)
        canonical = f"POST\n/\n{canon_query}\n{canon_headers}\n{signed}\n{payload_hash}"
        sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        sig = hmac.new((secret if secret is not None else self.secret).encode(), sts.encode(),
                       hashlib.sha256).hexdigest()
        headers["authorization"] = f"ACS3-HMAC-SHA256 Credential={self.ak},SignedHeaders={signed},Signature={sig}"
        if tamper_query:
            q.update(tamper_query)
        path = "/" + ("?" + "&".join(f"{pct(k)}={pct(v)}" for k, v in q.items()) if q else "")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("POST", path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            rh = {k: v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        record_body(data)
        return RawResponse(status, rh, data, {**q, **b}, sts)

    def call(self, action: str, params: Optional[Dict[str, Any]] = None, **kw) -> dict:
        body_params = {}
        params = dict(params or {})
        for k in ("DbList", "Reserve"):  # where the SDKs put them (environment notes)
            if k in params:
                body_params[k] = params.pop(k)
        r = self.request(action, params, body_params=body_params, **kw)
        try:
            body = r.json()
        except ValueError:
            raise ApiError("NotJSON", r.body[:300].decode("utf-8", "replace"), r.status, kind="raw")
        if r.status >= 400:
            raise ApiError(body.get("Code"), body.get("Message"), r.status, body.get("RequestId"), body, "raw")
        err = _in_body_error(body, r.status, "raw")
        if err:
            raise err
        return body


# --------------------------------------------------------------------------------------------
# The new SDK (alibabacloud-dts20200101)
# --------------------------------------------------------------------------------------------

def _snake(action: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


class NewSdkClient:
    def __init__(self, port: int, access_key_id: str, secret: str, v2: bool = False,
                 security_token: Optional[str] = None):
        from alibabacloud_dts20200101.client import Client
        from alibabacloud_tea_openapi import models as open_api_models

        cfg = dict(access_key_id=access_key_id, access_key_secret=secret, region_id=REGION,
                   endpoint=f"127.0.0.1:{port}", protocol="http", read_timeout=30000, connect_timeout=5000)
        if v2:
            cfg["signature_algorithm"] = "v2"
        if security_token:
            cfg["security_token"] = security_token
        self.client = Client(open_api_models.Config(**cfg))
        self.kind = "sdk-v2" if v2 else "sdk-acs3"

    def call(self, action: str, params: Optional[Dict[str, Any]] = None) -> dict:
        from alibabacloud_dts20200101 import models
        from darabonba.runtime import RuntimeOptions
        from alibabacloud_tea_openapi import exceptions as oex

        req_cls = getattr(models, action + "Request")
        req = req_cls().from_map(dict(params or {}))
        method = getattr(self.client, _snake(action) + "_with_options")
        try:
            resp = method(req, RuntimeOptions(autoretry=False, read_timeout=30000, connect_timeout=5000))
        except (oex.ClientException, oex.ServerException, oex.ThrottlingException) as e:
            data = dict(e.data or {}) if isinstance(getattr(e, "data", None), dict) else {}
            raise ApiError(e.code, data.get("Message") or e.message, getattr(e, "status_code", None),
                           getattr(e, "request_id", None), data, f"{self.kind}:{type(e).__name__}", e) from None
        body = resp.body.to_map() if resp.body is not None else {}
        record_body(json.dumps(body).encode())
        err = _in_body_error(body, resp.status_code, self.kind)
        if err:
            raise err
        return body


# --------------------------------------------------------------------------------------------
# The old SDK (aliyun-python-sdk-core + aliyun-python-sdk-dts)
# --------------------------------------------------------------------------------------------

class OldSdkClient:
    kind = "sdk-old"

    def __init__(self, port: int, access_key_id: str, secret: str):
        from aliyunsdkcore.client import AcsClient

        self.port = port
        self.client = AcsClient(access_key_id, secret, REGION, auto_retry=False, timeout=30,
                                connect_timeout=5)

    def build(self, action: str, params: Dict[str, Any]):
        import importlib

        mod = importlib.import_module(f"aliyunsdkdts.request.v20200101.{action}Request")
        req = getattr(mod, f"{action}Request")()
        req.set_endpoint(f"127.0.0.1:{self.port}")
        req.set_protocol_type("http")
        for k, v in params.items():
            if v is None:
                continue
            setter = getattr(req, f"set_{k}", None) or getattr(req, f"set_{k}s", None)
            if isinstance(v, bool):
                v = "true" if v else "false"
            if setter is not None:
                setter(v)
            elif isinstance(v, (list, tuple)):
                for wk, wv in flatten({k: v}).items():
                    req.add_query_param(wk, wv)
            else:
                req.add_query_param(k, v)
        return req

    def call(self, action: str, params: Optional[Dict[str, Any]] = None) -> dict:
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

        req = self.build(action, dict(params or {}))
        try:
            raw = self.client.do_action_with_exception(req)
        except ServerException as e:
            raise ApiError(e.get_error_code(), e.get_error_msg(), e.get_http_status(), e.get_request_id(),
                           {"Code": e.get_error_code(), "Message": e.get_error_msg()},
                           f"{self.kind}:ServerException", e) from None
        except ClientException as e:
            raise ApiError(e.get_error_code(), e.get_error_msg(), None, None, {},
                           f"{self.kind}:ClientException", e) from None
        record_body(raw)
        body = json.loads(raw.decode("utf-8"))
        err = _in_body_error(body, 200, self.kind)
        if err:
            raise err
        return body


def make_client(kind: str, port: int, ak: str, secret: str):
    if kind == "sdk-acs3":
        return NewSdkClient(port, ak, secret)
    if kind == "sdk-v2":
        return NewSdkClient(port, ak, secret, v2=True)
    if kind == "sdk-old":
        return OldSdkClient(port, ak, secret)
    if kind == "raw":
        return RawClient(port, ak, secret)
    raise ValueError(kind)


SDK_KINDS = ["sdk-acs3", "sdk-v2", "sdk-old"]


def poll(fn, until, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Calls fn() until until(result) holds; returns the last result. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if until(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)
