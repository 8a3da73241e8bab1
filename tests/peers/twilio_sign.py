"""Signs a request the way Twilio does, with the `twilio` package's own RequestValidator.

    python3 twilio_sign.py AUTH_TOKEN URL < params.json   -> prints X-Twilio-Signature
"""

import json
import sys

from twilio.request_validator import RequestValidator

params = json.load(sys.stdin)
print(RequestValidator(sys.argv[1]).compute_signature(sys.argv[2], params))
