"""A push service for tests, independent of Baton's code.

It plays both sides a real browser and push service play: it makes subscriptions the way a
browser does (a P-256 ECDH key pair and a 16-byte auth secret), and when Baton POSTs a push
message it checks the VAPID header with py_vapid (RFC 8292), checks the claims, and decrypts
the body with http_ece (RFC 8291, aes128gcm) using the subscription's private key.

    python3 push_service.py PORT

GET  /new-subscription/NAME   -> {"endpoint", "keys": {"p256dh", "auth"}}
POST /script/NAME             -> body {"responses": [{"status": 429, "retry_after": 1}, ...]}
POST /push/NAME               <- what Baton sends; answers the next scripted response (else 201)
GET  /received                -> every push received, decrypted and checked
"""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import py_vapid
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


LOCK = threading.Lock()
SUBSCRIPTIONS = {}  # name -> (private key, auth secret)
SCRIPTS = {}  # name -> [responses]
RECEIVED = []


def check_vapid(authorization: str, audience: str):
    """Verify the VAPID signature and claims; return (claims, problems)."""
    problems = []
    # RFC 8292 allows optional white space between auth-params; py_vapid does not.
    normalized = ",".join(part.strip() for part in authorization.split(","))
    try:
        if not py_vapid.Vapid02.verify(normalized):
            problems.append("signature does not verify")
    except Exception as e:  # noqa: BLE001 - any failure is a failed check
        problems.append(f"signature check failed: {e}")
    token = normalized.split("t=", 1)[1].split(",", 1)[0]
    claims = json.loads(unb64url(token.split(".")[1]))
    now = time.time()
    if claims.get("aud") != audience:
        problems.append(f"aud {claims.get('aud')!r} is not {audience!r}")
    if not (now < claims.get("exp", 0) <= now + 24 * 3600):
        problems.append(f"exp {claims.get('exp')} not within 24 h")
    if not claims.get("sub"):
        problems.append("no sub claim")
    return claims, problems


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        port = self.server.server_address[1]
        if self.path.startswith("/new-subscription/"):
            name = self.path.rsplit("/", 1)[1]
            key = ec.generate_private_key(ec.SECP256R1())
            auth = bytes(__import__("os").urandom(16))
            public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            with LOCK:
                SUBSCRIPTIONS[name] = (key, auth)
            return self.reply(200, {"endpoint": f"http://127.0.0.1:{port}/push/{name}", "keys": {"p256dh": b64url(public), "auth": b64url(auth)}})
        if self.path == "/received":
            with LOCK:
                return self.reply(200, RECEIVED)
        self.reply(404, {"error": "no such path"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path.startswith("/script/"):
            name = self.path.rsplit("/", 1)[1]
            with LOCK:
                SCRIPTS[name] = json.loads(body)["responses"]
            return self.reply(200, {})
        if not self.path.startswith("/push/"):
            return self.reply(404, {})
        name = self.path.rsplit("/", 1)[1]
        port = self.server.server_address[1]
        record = {"name": name, "at": time.time(), "headers": {k.lower(): v for k, v in self.headers.items()}, "problems": []}
        with LOCK:
            script = SCRIPTS.get(name) or []
            response = script.pop(0) if script else {"status": 201}
            sub = SUBSCRIPTIONS.get(name)
        record["answered"] = response["status"]
        if sub is None:
            record["problems"].append("unknown subscription")
        else:
            claims, problems = check_vapid(self.headers.get("Authorization", ""), f"http://127.0.0.1:{port}")
            record["claims"] = claims
            record["problems"].extend(problems)
            if self.headers.get("Content-Encoding") != "aes128gcm":
                record["problems"].append("Content-Encoding is not aes128gcm")
            for header in ("TTL", "Urgency"):
                if not self.headers.get(header):
                    record["problems"].append(f"no {header} header")
            if len(body) > 4096:
                record["problems"].append(f"body of {len(body)} bytes exceeds 4096")
            try:
                plaintext = http_ece.decrypt(body, private_key=sub[0], auth_secret=sub[1], version="aes128gcm")
                record["payload"] = json.loads(plaintext)
            except Exception as e:  # noqa: BLE001
                record["problems"].append(f"cannot decrypt: {e}")
        with LOCK:
            RECEIVED.append(record)
        headers = {"Retry-After": str(response["retry_after"])} if "retry_after" in response else {}
        self.reply(response["status"], {}, headers)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
