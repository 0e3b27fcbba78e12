#!/usr/bin/python3
"""webhook_receiver.py: the receiving end of orgd's webhooks, for test_webhooks.c.

An HTTP server on one loopback address that checks every delivery the way a
receiver following the Standard Webhooks specification would, written here
independently of orgd (hmac, hashlib, base64 from the standard library):

  signed text  = "{webhook-id}.{webhook-timestamp}.{body}"
  signature    = base64(HMAC-SHA256(key, signed text)),
  key          = base64-decoded secret after "whsec_"
  header       = "webhook-signature: v1,<signature>" (several, space-separated,
                 may be given: one matching is enough)
  timestamp    = unix seconds, within 5 minutes of now

Endpoints are paths /hook/<name>. Everything it is told and tells goes through
a directory (--dir):

  secrets/<name>  the endpoint's secret (whsec_...), written by the test as soon
                  as orgd showed it; waited for up to 2 s if not there yet
  control/<name>  how to answer, read at each arrival (absent: "ok"):
                    ok            2xx when the delivery verifies, 400 when not
                    down          500 (after verifying and recording)
                    slow:<s>      sleep s seconds, then as ok (an answer
                                  that takes a while but comes in time)
                    hang:<s>      sleep s seconds, then as ok: for s past
                                  orgd's timeout, an answer never heard
                                  (recorded as answered "hang")
                    redirect:<u>  302 to u
  arrivals.jsonl  one line per arrival, appended as it comes:
                    {endpoint, webhook_id, timestamp, signature, type, valid,
                     why, duplicate, seq, org_id, answered, at, body, raw}
                  (raw: the body's bytes as text, so a test may replay it)
                  duplicate: this endpoint has already accepted (answered 2xx)
                  a delivery with this webhook-id: a receiver de-duplicates on
                  it, so it acknowledges again (2xx) and does nothing else
  port            the port it listens on, written once it listens

Run: /usr/bin/python3 webhook_receiver.py --dir DIR [--bind 127.0.0.1] [--port 0]
     /usr/bin/python3 webhook_receiver.py --self-test
       checks this verifier against the test vector the Standard Webhooks
       reference libraries publish (and that a changed body, id, timestamp or
       secret fails it); exits 0 when it holds
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time

TOLERANCE_SECONDS = 5 * 60
SECRET_WAIT_SECONDS = 2.0


def expected_signature(secret, msg_id, timestamp, body):
    """The spec's v1 signature of a message, base64 (no 'v1,')."""
    if not secret.startswith("whsec_"):
        raise ValueError("the secret does not start with whsec_")
    key = base64.b64decode(secret[len("whsec_"):], validate=True)
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(secret, msg_id, timestamp, signature_header, body, now):
    """(valid, why): the receiver's whole check of one delivery."""
    if not msg_id or not timestamp or not signature_header:
        return False, "a webhook-id, webhook-timestamp or webhook-signature header is missing"
    try:
        ts = int(timestamp)
    except ValueError:
        return False, "webhook-timestamp is not an integer"
    if abs(now - ts) > TOLERANCE_SECONDS:
        return False, "webhook-timestamp is %d s away from now" % (ts - now)
    try:
        want = expected_signature(secret, msg_id, timestamp, body)
    except (ValueError, base64.binascii.Error) as e:
        return False, "unusable secret: %s" % e
    for part in signature_header.split(" "):
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, want):
            return True, ""
    return False, "no v1 signature matches"


# The vector of the Standard Webhooks reference libraries' tests.
VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": "1614265330",
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def self_test():
    v = VECTOR
    now = int(v["timestamp"])
    checks = [
        ("the published vector verifies",
         verify(v["secret"], v["id"], v["timestamp"], v["signature"], v["body"], now)[0]),
        ("one of several signatures is enough",
         verify(v["secret"], v["id"], v["timestamp"], "v1,bm9wZQ== " + v["signature"], v["body"],
                now)[0]),
        ("a changed body fails",
         not verify(v["secret"], v["id"], v["timestamp"], v["signature"], b'{"test": 2432232315}',
                    now)[0]),
        ("a changed id fails",
         not verify(v["secret"], v["id"] + "x", v["timestamp"], v["signature"], v["body"], now)[0]),
        ("a changed timestamp fails",
         not verify(v["secret"], v["id"], "1614265331", v["signature"], v["body"], now)[0]),
        ("another secret fails",
         not verify("whsec_" + base64.b64encode(b"another key of 32 bytes, exactly").decode(),
                    v["id"], v["timestamp"], v["signature"], v["body"], now)[0]),
        ("a timestamp 6 minutes old fails",
         not verify(v["secret"], v["id"], v["timestamp"], v["signature"], v["body"], now + 360)[0]),
    ]
    failed = [name for name, ok in checks if not ok]
    for name in failed:
        print("self-test failed: %s" % name)
    if not failed:
        print("self-test ok: %d checks" % len(checks))
    return 1 if failed else 0


class State:
    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.accepted = {}  # endpoint -> set of webhook-ids answered 2xx

    def read(self, kind, name):
        path = os.path.join(self.dir, kind, name)
        try:
            with open(path, "r", encoding="utf-8") as f:
                return f.read().strip()
        except OSError:
            return None

    def secret(self, name):
        deadline = time.monotonic() + SECRET_WAIT_SECONDS
        while True:
            s = self.read("secrets", name)
            if s or time.monotonic() > deadline:
                return s
            time.sleep(0.05)

    def record(self, entry):
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self.lock:
            with open(os.path.join(self.dir, "arrivals.jsonl"), "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "webhook-receiver"

    def log_message(self, fmt, *args):  # quiet: the arrivals file says it all
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if body:
            try:
                self.wfile.write(body)
            except OSError:
                pass
        self.close_connection = True

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = self.path.split("/")
        name = parts[2] if len(parts) >= 3 and parts[1] == "hook" else ""
        msg_id = self.headers.get("webhook-id", "")
        timestamp = self.headers.get("webhook-timestamp", "")
        signature = self.headers.get("webhook-signature", "")
        secret = st.secret(name) if name else None
        now = int(time.time())
        if secret is None:
            valid, why = False, "no secret for endpoint %r" % name
        else:
            valid, why = verify(secret, msg_id, timestamp, signature, body, now)
        parsed = None
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if valid:
                valid, why = False, "the body is not JSON"
        data = parsed.get("data") if isinstance(parsed, dict) else None
        data = data if isinstance(data, dict) else {}
        mode = st.read("control", name) or "ok"
        with st.lock:
            seen = st.accepted.setdefault(name, set())
            duplicate = msg_id in seen
        if mode.startswith("redirect:"):
            answered = 302
        elif mode == "down":
            answered = 500
        elif mode.startswith("hang:"):
            answered = "hang"
        elif mode.startswith("slow:"):
            answered = 200 if valid else 400
        else:
            answered = 200 if valid else 400
        st.record({
            "endpoint": name,
            "webhook_id": msg_id,
            "timestamp": timestamp,
            "signature": signature,
            "type": parsed.get("type") if isinstance(parsed, dict) else None,
            "valid": valid,
            "why": why,
            "duplicate": duplicate,
            "seq": data.get("seq"),
            "org_id": data.get("org_id"),
            "answered": answered,
            "at": time.time(),
            "body": parsed,
            "raw": body.decode("utf-8", errors="replace"),
        })
        if answered == 302:
            self.answer(302, headers=[("Location", mode[len("redirect:"):])])
            return
        if answered == 500:
            self.answer(500, b"down for a while")
            return
        if answered == "hang":
            time.sleep(float(mode[len("hang:"):]))
            answered = 200 if valid else 400
        elif mode.startswith("slow:"):
            time.sleep(float(mode[len("slow:"):]))
        if answered == 200:
            with st.lock:
                st.accepted[name].add(msg_id)
            # de-duplicated: acknowledged either way, processed once
            self.answer(200, b"duplicate" if duplicate else b"ok")
        else:
            self.answer(400, why.encode())

    def do_GET(self):
        self.answer(200, b"webhook receiver")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--self-test", action="store_true")
    p.add_argument("--dir")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    if a.self_test:
        return self_test()
    if not a.dir:
        p.error("--dir is required")
    for sub in ("secrets", "control"):
        os.makedirs(os.path.join(a.dir, sub), exist_ok=True)
    server = Server((a.bind, a.port), Handler)
    server.state = State(a.dir)
    tmp = os.path.join(a.dir, "port.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, os.path.join(a.dir, "port"))
    print("listening on %s:%d" % (a.bind, server.server_address[1]), flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
