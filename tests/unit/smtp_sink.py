"""smtp_sink.py DIR [USER:PASSWORD] - a local SMTP server for
tests/unit/test_notify.c.

Listens on 127.0.0.1 on a free port and prints the port on stdout. Each
message accepted is written to DIR/N.eml (the DATA as received, dots
unstuffed) and DIR/N.json (the envelope, and what Python's own e-mail
parser reads in the message: decoded headers, the body): both exist before
the 250 that ends DATA, so the client's success means they are there. Each
RCPT is appended to DIR/rcpt.log with the reply given. Recipients decide
the replies: nobody@... gets 550 (permanent), busy@... gets 451 (try
later) the first time. With USER:PASSWORD, a client must log in with them
(AUTH PLAIN or LOGIN, over the clear connection) before MAIL; each try is
appended to DIR/auth.log. Exits when its stdin closes (the test ended or
died).
"""
import asyncio
import email
import email.policy
import json
import logging
import os
import sys
import threading
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, directory):
        self.dir = directory
        self.n = 0
        self.seen = set()

    def log_rcpt(self, address, reply):
        with open(os.path.join(self.dir, "rcpt.log"), "a") as f:
            f.write("%s %s\n" % (address, reply[:3]))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = "250 OK"
        if address.startswith("nobody@"):
            reply = "550 5.1.1 no such user"
        elif address.startswith("busy@") and address not in self.seen:
            self.seen.add(address)
            reply = "451 4.3.0 try again later"
        else:
            envelope.rcpt_tos.append(address)
        self.log_rcpt(address, reply)
        return reply

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        raw = envelope.original_content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k: str(v) for k, v in msg.items()},
            # the parser keeps the CRLF of the wire in the body
            "body": msg.get_content().replace("\r\n", "\n"),
            "bare_lf": raw.replace(b"\r\n", b"").count(b"\n"),
            "max_line": max(len(line) for line in raw.split(b"\r\n")),
        }
        base = os.path.join(self.dir, str(self.n))
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".json", "w") as f:
            json.dump(summary, f)
        return "250 OK"


def authenticator(directory, user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        with open(os.path.join(directory, "auth.log"), "a") as f:
            f.write("%s %s\n" % (mechanism, "ok" if ok else "refused"))
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535
    return check


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


async def main():
    handler = Handler(sys.argv[1])
    options = {}
    if len(sys.argv) > 2:
        user, password = sys.argv[2].split(":", 1)
        options = dict(auth_required=True, auth_require_tls=False,
                       authenticator=authenticator(sys.argv[1], user, password))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **options), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


# AUTH over a clear connection is what the test wants: no warning about it
warnings.simplefilter("ignore")
logging.getLogger("mail.log").setLevel(logging.ERROR)
threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
asyncio.run(main())
