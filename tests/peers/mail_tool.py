"""Independent email tooling for the email tests, on Python's own `email` package.

    python3 mail_tool.py build < spec.json > message.eml   # a raw message from a JSON spec
    python3 mail_tool.py inspect FILE                      # what a received message says, as JSON

A spec: {"from": "Name <a@b>", "to": "...", "subject": "...", "message_id": "<id@x>",
"in_reply_to": "<...>", "references": "<...> <...>", "text": "...", "html": "...",
"charset": "utf-8", "cte": "quoted-printable" | "base64", "headers": {"Name": "value"},
"bounce_of": "<id@x>", "bounce_reason": "550 ...",
"attachments": [{"filename": "...", "content_type": "type/subtype", "base64": "..."}]}.
"""

import email
import email.policy
import json
import sys
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr


def header(value, charset):
    # RFC 2047 encoded-words in the given charset (ISO-8859-1 names stay Latin-1 on the wire).
    if all(ord(c) < 128 for c in value):
        return value
    return Header(value, charset).encode()


def address(value, charset):
    name, addr = parseaddr(value)
    if name and not all(ord(c) < 128 for c in name):
        return f"{Header(name, charset).encode()} <{addr}>"
    return formataddr((name, addr)) if name else addr


def text_part(body, subtype, charset, cte):
    part = MIMEText("", subtype, charset)
    del part["Content-Transfer-Encoding"]
    payload = body.encode(charset)
    if cte == "base64":
        import base64
        part.set_payload(base64.encodebytes(payload).decode("ascii"))
    elif cte == "quoted-printable":
        import quopri
        part.set_payload(quopri.encodestring(payload).decode("ascii"))
    else:
        part.set_payload(payload.decode(charset))
        cte = "8bit"
    part["Content-Transfer-Encoding"] = cte
    return part


def build(spec):
    charset = spec.get("charset", "utf-8")
    cte = spec.get("cte", "quoted-printable")
    if spec.get("bounce_of"):
        msg = MIMEMultipart("report", report_type="delivery-status")
        msg.attach(MIMEText("Your message could not be delivered.", "plain"))
        # message/delivery-status is a list of header blocks (RFC 3464 §2.1).
        status = Message()
        status.set_type("message/delivery-status")
        status.attach(email.message_from_string("Reporting-MTA: dns; mx.example.net\n"))
        status.attach(email.message_from_string(
            f"Final-Recipient: rfc822; {spec.get('failed_recipient', 'gone@example.org')}\n"
            "Action: failed\nStatus: 5.1.1\n"
            f"Diagnostic-Code: smtp; {spec.get('bounce_reason', '550 5.1.1 user unknown')}\n"
        ))
        msg.attach(status)
        headers = Message()
        headers.set_type("text/rfc822-headers")
        headers.set_payload(f"Message-ID: {spec['bounce_of']}\nSubject: Re: something\n")
        msg.attach(headers)
    elif spec.get("html") is not None and spec.get("text") is not None:
        msg = MIMEMultipart("alternative")
        msg.attach(text_part(spec["text"], "plain", charset, cte))
        msg.attach(text_part(spec["html"], "html", charset, cte))
    elif spec.get("html") is not None:
        msg = text_part(spec["html"], "html", charset, cte)
    else:
        msg = text_part(spec.get("text", ""), "plain", charset, cte)
    if spec.get("attachments"):
        import base64
        from email.mime.application import MIMEApplication
        body, msg = msg, MIMEMultipart("mixed")
        msg.attach(body)
        for a in spec["attachments"]:
            maintype, subtype = a["content_type"].split("/", 1)
            part = MIMEApplication(base64.b64decode(a["base64"]), subtype)
            part.replace_header("Content-Type", a["content_type"])
            part.add_header("Content-Disposition", "attachment", filename=a["filename"])
            msg.attach(part)
    msg["From"] = address(spec["from"], charset)
    msg["To"] = spec.get("to", "help@sunny.test")
    if spec.get("subject") is not None:
        msg["Subject"] = header(spec["subject"], charset)
    for name in ("message_id", "in_reply_to", "references"):
        if spec.get(name):
            msg[{"message_id": "Message-ID", "in_reply_to": "In-Reply-To", "references": "References"}[name]] = spec[name]
    for name, value in spec.get("headers", {}).items():
        msg[name] = value
    return msg.as_bytes()


def inspect(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    parts = {}
    attachments = []
    for part in msg.walk():
        if part.get_content_disposition() == "attachment":
            import base64
            attachments.append({
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "base64": base64.b64encode(part.get_payload(decode=True)).decode("ascii"),
            })
        elif part.get_content_maintype() == "text":
            parts[part.get_content_type()] = part.get_content()
    return {
        "from": str(msg["From"]),
        "to": str(msg["To"]),
        "subject": str(msg["Subject"]),
        "message_id": str(msg["Message-ID"]),
        "in_reply_to": str(msg["In-Reply-To"]) if msg["In-Reply-To"] else None,
        "references": str(msg["References"]).split() if msg["References"] else [],
        "reply_to": str(msg["Reply-To"]),
        "content_type": msg.get_content_type(),
        "text": parts.get("text/plain"),
        "html": parts.get("text/html"),
        "attachments": attachments,
        "defects": [str(d) for d in msg.defects],
    }


if __name__ == "__main__":
    if sys.argv[1] == "build":
        sys.stdout.buffer.write(build(json.load(sys.stdin)))
    else:
        print(json.dumps(inspect(sys.argv[2])))
