"""An IMAP client on Python's own imaplib, for the tests: `imap_tool.py PORT USER PASSWORD`
with no command logs in and out; `append` puts the message on stdin in the INBOX, unread;
`flags` prints the flags of each INBOX message as a JSON list."""

import imaplib
import json
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
command = sys.argv[4] if len(sys.argv) > 4 else None
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, password)
if command == "append":
    status, _ = m.append("INBOX", None, None, sys.stdin.buffer.read())
    assert status == "OK", status
elif command == "flags":
    m.select("INBOX", readonly=True)
    status, data = m.uid("FETCH", "1:*", "(FLAGS)")
    assert status == "OK", status
    print(json.dumps([d.decode() for d in data if d]))
m.logout()
