"""Sends one raw message with Python's own smtplib, as a mail server or a customer's client would.

    python3 smtp_client.py HOST PORT FROM TO[,TO…] < message.eml

Prints JSON: {"refused": {rcpt: [code, text]}} when the server refused recipients at RCPT
(the others still get the message), or {"error": [code, text]} when it refused the message,
else {"refused": {}}. Uses ESMTP, so SIZE is declared when the server offers it.
"""

import json
import smtplib
import sys


def main():
    host, port, sender, to = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")
    raw = sys.stdin.buffer.read()
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        try:
            refused = smtp.sendmail(sender, to, raw)
            print(json.dumps({"refused": {k: [v[0], v[1].decode()] for k, v in refused.items()}}))
        except smtplib.SMTPRecipientsRefused as e:
            print(json.dumps({"refused": {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}}))
        except smtplib.SMTPResponseException as e:
            print(json.dumps({"error": [e.smtp_code, e.smtp_error.decode()]}))


if __name__ == "__main__":
    main()
