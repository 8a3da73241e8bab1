"""A stand-in for Twilio's Messages API, for tests, independent of Baton's code.

It checks what Twilio's API reference documents for "Create a Message": `POST
/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth with the account SID and
auth token, `application/x-www-form-urlencoded` with `To` and `From` in E.164 and a `Body`,
and an optional `StatusCallback` URL. Anything else is refused the way Twilio refuses it.

    python3 twilio_api.py PORT ACCOUNT_SID AUTH_TOKEN LOG_FILE [SCRIPT]

SCRIPT is a comma-separated list of answers for the first requests that pass the checks
(`429`, `500`, `400`); after it, every such request is accepted (201). Each request is logged
to LOG_FILE as one JSON line: {"status", "fields", "problems"}. Prints "ready" once listening.

It also serves MMS media the way Twilio does with "HTTP Basic Authentication for media access"
on: `GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}` answers 401
without the account's basic auth, else a redirect to the stored file (as Twilio redirects to
its storage), which carries the bytes. The media SID picks the file: `ME...image` a small PNG,
`ME...text` a text file, `ME...big` 21 MiB (over Baton's limit). Each GET is logged as
{"media", "status"}.
"""

import base64
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

PORT, SID, TOKEN, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
SCRIPT = [int(s) for s in sys.argv[5].split(",") if s] if len(sys.argv) > 5 else []
LOCK = threading.Lock()
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
KNOWN = {"To", "From", "Body", "StatusCallback", "MessagingServiceSid", "MediaUrl"}

ERRORS = {
    400: {"code": 21211, "message": "Invalid 'To' Phone Number"},
    401: {"code": 20003, "message": "Authenticate"},
    404: {"code": 20404, "message": "The requested resource was not found"},
    429: {"code": 20429, "message": "Too Many Requests"},
    500: {"code": 20500, "message": "Internal Server Error"},
}


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a5f3a1b30000000049454e44ae426082"
)
TEXT = b"Order #1042, as promised.\n"
MEDIA = {
    "image": ("image/png", PNG),
    "text": ("text/plain", TEXT),
    "big": ("image/jpeg", b"\xff" * (21 * 1024 * 1024)),
}
MEDIA_PATH = re.compile(rf"^/2010-04-01/Accounts/{SID}/Messages/MM\w+/Media/ME\w*?(image|text|big)$")
STORED_PATH = re.compile(r"^/media-storage/(image|text|big)$")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def media_log(self, status):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"media": self.path, "status": status}) + "\n")

    def do_GET(self):
        stored = STORED_PATH.match(self.path)
        if stored:
            kind, data = MEDIA[stored.group(1)]
            self.media_log(200)
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client that stops reading at its size limit
            return
        found = MEDIA_PATH.match(self.path)
        if not found:
            self.media_log(404)
            return self.answer(404, ERRORS[404])
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.media_log(401)
            return self.answer(401, ERRORS[401])
        self.media_log(307)
        self.send_response(307)
        self.send_header("Location", f"/media-storage/{found.group(1)}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, fields, problems):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"status": status, "fields": fields, "problems": problems}) + "\n")
        body = dict(ERRORS.get(status, {"code": 20001, "message": "error"}))
        body.update({"status": status, "more_info": f"https://www.twilio.com/docs/errors/{body['code']}"})
        self.answer(status, body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        pairs = parse_qsl(raw, keep_blank_values=True)
        fields = dict(pairs)
        if self.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
            return self.error(404, fields, [f"path {self.path}"])
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self.error(401, fields, ["basic auth"])
        problems = []
        if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            problems.append("content type")
        if len(pairs) != len(fields):
            problems.append("a field repeated")
        for name in ("To", "From"):
            if not E164.match(fields.get(name, "")):
                problems.append(f"{name} is not E.164")
        if not fields.get("Body"):
            problems.append("no Body")
        if set(fields) - KNOWN:
            problems.append(f"unknown fields {sorted(set(fields) - KNOWN)}")
        callback = fields.get("StatusCallback")
        if callback is not None and not re.match(r"^https?://", callback):
            problems.append("StatusCallback is not a URL")
        if problems:
            return self.error(400, fields, problems)
        with LOCK:
            scripted = SCRIPT.pop(0) if SCRIPT else 201
        if scripted != 201:
            return self.error(scripted, fields, [])
        sid = "SM" + uuid.uuid4().hex
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"status": 201, "sid": sid, "fields": fields, "problems": []}) + "\n")
        self.answer(201, {
            "sid": sid, "account_sid": SID, "to": fields["To"], "from": fields["From"],
            "body": fields["Body"], "status": "queued", "num_segments": "1", "error_code": None,
            "error_message": None, "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
        })


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
