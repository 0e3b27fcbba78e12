#!/usr/bin/env python3
"""readme.py ORGD_BINARY — the README's "Try it" section, run as a reader
would: every ```sh block in order in one bash session against an orgd
this script starts (the README's localhost:8000 is rewritten to its port),
and the webhook receiver (the ```python block) started where the README
says to start it, with the secret the blocks before it got. Passes when
every command succeeds and the receiver printed a verified org.renamed
event, and the audit log listed it.

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
import urllib.request

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if len(sys.argv) != 2:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
orgd_bin = sys.argv[1]
mongo = os.environ.get("ORGD_TEST_MONGO_URI")
if not mongo:
    print("readme: ORGD_TEST_MONGO_URI is not set", file=sys.stderr)
    sys.exit(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


text = open(os.path.join(root, "README.md"), encoding="utf-8").read()
section = text[text.index("## Try it"):text.index("\n## API")]
blocks = re.findall(r"```(sh|python)\n(.*?)```", section, re.S)
port, hook_port = free_port(), free_port()

work = tempfile.mkdtemp(prefix="orgd-readme.")
script = ["set -euo pipefail"]
receiver_started = False
for kind, body in blocks:
    body = body.replace("localhost:8000", f"127.0.0.1:{port}").replace(
        "127.0.0.1:9000", f"127.0.0.1:{hook_port}")
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
           MONGOC_DISABLE_SHM="1", WEBHOOK_ALLOW_HTTP="true",
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
print("readme: the Try it section runs as written: the webhook arrived verified, and the log lists it")
