#!/usr/bin/env python3
"""An MCP host's client-credentials flow as the official Python SDK runs it.

The Python SDK (modelcontextprotocol/python-sdk, read at 57394b0, 2026-08-20)
needs pydantic 2 and httpx2, which this project's machines cannot install
(no PyPI; Debian ships pydantic 1). This program replays, step by step, what
its ``PrivateKeyJWTOAuthProvider`` (mcp/client/auth/extensions/
client_credentials.py) and ``OAuthClientProvider.async_auth_flow``
(mcp/client/auth/oauth2.py, utils.py) do, with the same JWT library the SDK
signs with (PyJWT, ``jwt.encode``) and only the standard library besides:

1. send the MCP request without a token; on 401 read ``resource_metadata``
   and ``scope`` from WWW-Authenticate with the SDK's regular expression;
2. fetch the protected resource metadata (the challenge's URL, then the
   path-based and root well-known URLs), check its ``resource`` is a parent
   of the server URL;
3. fetch the authorization server metadata (root well-known URL, then the
   OIDC one), require ``issuer``, ``authorization_endpoint`` and
   ``token_endpoint``, and the issuer to equal the PRM's
   authorization_servers[0] (SEP-2468);
4. choose the scope: the challenge's, else the PRM's scopes_supported, else
   the AS metadata's;
5. sign the assertion as ``SignedJWTParameters.create_assertion_provider``
   does (iss = sub = client_id, aud = the issuer identifier, exp = now +
   300, iat, jti = uuid4; PyJWT header ``{"alg", "typ": "JWT"}``, no kid),
   and POST grant_type=client_credentials, client_assertion(_type),
   resource (the PRM's), scope — no client_id, no DPoP;
6. accept the answer as the SDK's ``OAuthToken`` model does: token_type,
   title-cased, must be ``Bearer`` (a ``DPoP`` token fails there);
7. retry with ``Authorization: Bearer``.

Usage: host.py AGENT.jwk AGENT_DID MCP_SERVER_URL [TOOL [ARGUMENTS_JSON]]

The SDK takes the agent's key as PEM (``SignedJWTParameters.signing_key``);
``pem_from_jwk`` shows the one-time conversion of the JWK agentid writes.
"""

import base64
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import jwt  # PyJWT, as the SDK
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PROTOCOL_VERSION = "2025-06-18"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class FlowError(Exception):
    pass


def pem_from_jwk(jwk):
    """The agent's Ed25519 JWK as the PKCS#8 PEM the SDK's signing_key takes."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" not in jwk:
        raise FlowError("need an Ed25519 private JWK")
    d = base64.urlsafe_b64decode(jwk["d"] + "=" * (-len(jwk["d"]) % 4))
    key = Ed25519PrivateKey.from_private_bytes(d)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def www_auth_field(headers, name):
    """mcp.client.auth.utils.extract_field_from_www_auth: one regex over the
    header (httpx joins repeated headers with ", ")."""
    values = headers.get_all("WWW-Authenticate") or []
    m = re.search(rf'{name}=(?:"([^"]+)"|([^\s,]+))', ", ".join(values))
    return (m.group(1) or m.group(2)) if m else None


def resource_allowed(requested, configured):
    """mcp.shared.auth_utils.check_resource_allowed."""
    r, c = urllib.parse.urlparse(requested), urllib.parse.urlparse(configured)
    if r.scheme.lower() != c.scheme.lower() or r.netloc.lower() != c.netloc.lower():
        return False
    rp, cp = r.path, c.path
    rp += "" if rp.endswith("/") else "/"
    cp += "" if cp.endswith("/") else "/"
    return rp.startswith(cp)


def get_json(url):
    status, _, body = http("GET", url, headers={"MCP-Protocol-Version": PROTOCOL_VERSION})
    if status != 200:
        return status, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def discover_prm(server, challenge_url):
    p = urllib.parse.urlparse(server)
    base = f"{p.scheme}://{p.netloc}"
    urls = [challenge_url] if challenge_url else []
    if p.path and p.path != "/":
        urls.append(base + "/.well-known/oauth-protected-resource" + p.path)
    urls.append(base + "/.well-known/oauth-protected-resource")
    for u in urls:
        _, prm = get_json(u)
        if prm and prm.get("resource") and prm.get("authorization_servers"):
            if not resource_allowed(server, prm["resource"]):
                raise FlowError(f"Protected resource {prm['resource']} does not match expected {server}")
            return prm
    raise FlowError("no protected resource metadata")


def discover_asm(auth_server):
    p = urllib.parse.urlparse(auth_server)
    base = f"{p.scheme}://{p.netloc}"
    if p.path and p.path != "/":
        path = p.path.rstrip("/")
        urls = [base + "/.well-known/oauth-authorization-server" + path,
                base + "/.well-known/openid-configuration" + path, base + path + "/.well-known/openid-configuration"]
    else:
        urls = [base + "/.well-known/oauth-authorization-server", base + "/.well-known/openid-configuration"]
    for u in urls:
        status, asm = get_json(u)
        if status != 200 and (status < 400 or status >= 500):
            break  # handle_auth_metadata_response: a non-4xx error stops the search
        if asm is not None:
            for field in ("issuer", "authorization_endpoint", "token_endpoint"):
                if not asm.get(field):
                    raise FlowError(f"authorization server metadata: {field} is required")
            if asm["issuer"] != auth_server:
                raise FlowError(f"Authorization server metadata issuer mismatch: {asm['issuer']} != {auth_server}")
            return asm
    raise FlowError("no authorization server metadata")


class Host:
    def __init__(self, server, client_id, pem):
        self.server, self.client_id, self.pem = server, client_id, pem
        self.token, self.session, self.next_id = None, None, 1

    def authorize(self, unauthorized_headers):
        prm = discover_prm(self.server, www_auth_field(unauthorized_headers, "resource_metadata"))
        auth_server = prm["authorization_servers"][0]
        asm = discover_asm(auth_server)
        scope = www_auth_field(unauthorized_headers, "scope")
        if scope is None and prm.get("scopes_supported") is not None:
            scope = " ".join(prm["scopes_supported"])
        elif scope is None and asm.get("scopes_supported") is not None:
            scope = " ".join(asm["scopes_supported"])
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": asm["issuer"],
                  "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
        assertion = jwt.encode(claims, self.pem, algorithm="EdDSA")
        form = {"grant_type": "client_credentials", "client_assertion": assertion,
                "client_assertion_type": ASSERTION_TYPE, "resource": prm["resource"]}
        if scope:
            form["scope"] = scope
        status, _, body = http("POST", asm["token_endpoint"], urllib.parse.urlencode(form).encode(),
                               {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise FlowError(f"Token exchange failed ({status}): {body.decode(errors='replace')}")
        tok = json.loads(body)
        if str(tok.get("token_type", "Bearer")).title() != "Bearer":
            raise FlowError(f"Invalid token response: token_type {tok.get('token_type')!r} is not Bearer")
        self.token = tok
        print(f"py-host: token_type {tok['token_type']} expires_in {tok.get('expires_in')} scope {tok.get('scope', scope)}")

    def rpc(self, method, params=None, notify=False):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if not notify:
            msg["id"] = self.next_id
            self.next_id += 1
        for attempt in (0, 1):
            headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
            if self.session:
                headers["Mcp-Session-Id"] = self.session
                headers["MCP-Protocol-Version"] = PROTOCOL_VERSION
            if self.token:
                headers["Authorization"] = "Bearer " + self.token["access_token"]
            status, h, body = http("POST", self.server, json.dumps(msg).encode(), headers)
            if status == 401 and attempt == 0:
                print(f"py-host: {method} without a token: 401, {www_auth_field(h, 'resource_metadata')}")
                self.authorize(h)
                continue
            if status >= 400:
                raise FlowError(f"{method}: HTTP {status}: {body.decode(errors='replace')[:300]}")
            if h.get("Mcp-Session-Id"):
                self.session = h["Mcp-Session-Id"]
            if notify:
                return None
            return self.answer(h, body)
        raise FlowError(f"{method}: refused after authorization")

    @staticmethod
    def answer(headers, body):
        text = body.decode()
        if (headers.get("Content-Type") or "").startswith("text/event-stream"):
            data = [ln[5:].strip() for ln in text.splitlines() if ln.startswith("data:")]
            text = data[-1] if data else ""
        msg = json.loads(text)
        if "error" in msg:
            raise FlowError(f"JSON-RPC error: {msg['error']}")
        return msg["result"]


def main(argv):
    if len(argv) not in (4, 5, 6):
        print(__doc__.split("\n\n")[-2], file=sys.stderr)
        return 2
    key_file, client_id, server = argv[1:4]
    tool = argv[4] if len(argv) > 4 else "list_events"
    args = json.loads(argv[5]) if len(argv) > 5 else {}
    with open(key_file) as f:
        pem = pem_from_jwk(json.load(f))
    host = Host(server, client_id, pem)
    try:
        host.rpc("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                "clientInfo": {"name": "py-host", "version": "1.0.0"}})
        host.rpc("notifications/initialized", notify=True)
        res = host.rpc("tools/call", {"name": tool, "arguments": args})
        text = "\n".join(c.get("text", "") for c in res.get("content", []))
        if res.get("isError"):
            raise FlowError(f"{tool}: {text}")
        print(f"py-host: {tool} → {text}")
    except FlowError as e:
        print(f"py-host: error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
