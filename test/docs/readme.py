#!/usr/bin/env python3
"""readme.py ORGD_BINARY — the README's "Try it" section, run as a reader
would: every ```sh block in order in one bash session against an orgd
this script starts (the README's localhost:8000 is rewritten to its port),
and the webhook receiver (the ```python block) started where the README
says to start it, with the secret the blocks before it got. Mail goes to
the tests' Mailpit (ORGD_TEST_SMTP_URL; the README's `scripts/mail api-url`
is its API, ORGD_TEST_MAILPIT_API), so the invitation and the reset are
taken from the mail as the README says. Passes when every command
succeeds, the receiver printed a verified org.renamed event, and the
audit log listed it.

The orgd listens on 127.0.0.1 on a free port with its own database on
ORGD_TEST_MONGO_URI, and is stopped by its pid; so is the receiver."""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if len(sys.argv) != 2:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
orgd_bin = sys.argv[1]
mongo = os.environ.get("ORGD_TEST_MONGO_URI")
smtp = os.environ.get("ORGD_TEST_SMTP_URL")
mailpit = os.environ.get("ORGD_TEST_MAILPIT_API")
if not mongo or not smtp or not mailpit:
    print("readme: ORGD_TEST_MONGO_URI, ORGD_TEST_SMTP_URL and ORGD_TEST_MAILPIT_API must be set "
          "(scripts/test sets them)", file=sys.stderr)
    sys.exit(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


text = open(os.path.join(root, "README.md"), encoding="utf-8").read()
section = text[text.index("## Try it"):text.index("\n## API")]
blocks = re.findall(r"```(sh|python)\n(.*?)```", section, re.S)
port, hook_port = free_port(), free_port()
tag = "readme-" + secrets.token_hex(4)

work = tempfile.mkdtemp(prefix="orgd-readme.")
script = ["set -euo pipefail"]
receiver_started = False
for kind, body in blocks:
    body = body.replace("localhost:8000", f"127.0.0.1:{port}").replace(
        "127.0.0.1:9000", f"127.0.0.1:{hook_port}").replace("$(scripts/mail api-url)", mailpit)
    # the Mailpit is shared with other tests (and this test's other build):
    # addresses of this run's own, so that each mail found is this run's
    body = body.replace("@example.com", f"@{tag}.example.com")
    if kind == "sh":
        script.append(body)
        continue
    # the receiver: where the README starts it, with the secret it has by then
    with open(os.path.join(work, "receiver.py"), "w", encoding="utf-8") as f:
        f.write(body.replace('("127.0.0.1", 9000)', f'("127.0.0.1", {hook_port})'))
    script.append(f'/usr/bin/python3 {work}/receiver.py "$SECRET" > {work}/receiver.log 2>&1 &\n'
                  f'echo $! > {work}/receiver.pid\nsleep 1')
    receiver_started = True
if not receiver_started:
    print("FAIL the README's Try it has no receiver (```python block)")
    sys.exit(1)
script.append(f'curl -s "127.0.0.1:{port}/organization/$ID/events?limit=5" '
              f'-H "Authorization: Bearer $ACCESS" > {work}/events.json')

db = "readme_" + secrets.token_hex(4)
env = dict(os.environ, MONGO_URI=mongo, MASTER_DB=db, PORT=str(port), HOST="127.0.0.1",
           JWT_SECRET=secrets.token_hex(32), ENV_FILE="/nonexistent/readme.env",
           MONGOC_DISABLE_SHM="1", WEBHOOK_ALLOW_HTTP="true", SMTP_URL=smtp,
           PUBLIC_URL=f"http://127.0.0.1:{port}", MAIL_RETRY_SCHEDULE="1,1,1,1,1",
           WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32", LOG_LEVEL="warn")
log = open(os.path.join(work, "orgd.log"), "w")
orgd = subprocess.Popen([orgd_bin], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
failed = []
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, capture_output=True,
                         text=True, timeout=120)
    if run.returncode != 0:
        failed.append(f"the README's commands failed ({run.returncode}):\n{run.stderr[-2000:]}")
    for _ in range(50):  # the delivery arrives within a second or so
        got = open(os.path.join(work, "receiver.log"), encoding="utf-8").read() \
            if os.path.exists(os.path.join(work, "receiver.log")) else ""
        if "org.renamed" in got:
            break
        time.sleep(0.2)
    if not re.search(r'^verified \{"type":"org\.renamed"', got, re.M):
        failed.append(f"the receiver printed no verified org.renamed:\n{got[-2000:]}")
    if "FORGED" in got:
        failed.append("the receiver saw a signature it could not verify")
    # the reset, done from the mail alone, took: the new password signs in
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/signin", method="POST",
        headers={"Content-Type": "application/json"},
        data=('{"email":"alan@%s.example.com","password":"a brand new passphrase"}' % tag).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            if res.status != 200:
                failed.append(f"sign-in with the password reset from the mail: {res.status}")
    except urllib.error.HTTPError as err:
        failed.append(f"sign-in with the password reset from the mail: {err.code}")
    events = open(os.path.join(work, "events.json"), encoding="utf-8").read() \
        if os.path.exists(os.path.join(work, "events.json")) else ""
    if '"action":"org.renamed"' not in events:
        failed.append(f"the audit log did not list the rename: {events[:500]}")
finally:
    pid_file = os.path.join(work, "receiver.pid")
    if os.path.exists(pid_file):
        try:
            os.kill(int(open(pid_file).read()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    orgd.send_signal(signal.SIGTERM)
    try:
        orgd.wait(timeout=30)
    except subprocess.TimeoutExpired:
        orgd.kill()
    log.close()
if failed:
    for f in failed:
        print("FAIL " + f)
    print(f"(orgd's log: {work}/orgd.log)")
    sys.exit(1)
print("readme: the Try it section runs as written: the invitation and the reset came by mail, the webhook arrived verified, and the log lists it")
