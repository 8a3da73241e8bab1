"""A webhook receiver for tests that verifies every delivery with the `standardwebhooks`
package (the Standard Webhooks reference library), independent of Baton's code.

    python3 webhook_receiver.py PORT SECRET_FILE LOG_FILE

The secret (`whsec_…`) is read from SECRET_FILE at each request, so the test can start the
receiver before Baton has made the secret. Each POST is logged as one JSON line:
{"verified", "id", "payload"}; a verified one is answered 204, anything else 401.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

PORT, SECRET_FILE, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            with open(SECRET_FILE) as f:
                secret = f.read().strip()
            payload = Webhook(secret).verify(body, headers)
            verified = True
        except Exception as e:  # a refusal of any kind is logged and answered 401
            payload, verified = {"error": str(e)}, False
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps({"verified": verified, "id": headers.get("webhook-id"), "payload": payload}) + "\n")
        self.send_response(204 if verified else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
