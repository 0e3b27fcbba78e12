#!/usr/bin/python3
"""verify_chain.py: verifies an orgd audit log as anyone outside orgd can,
from the API's rendering alone (no orgd code, no database).

Usage: verify_chain.py FILE [CHAIN_ORG_ID|-]

FILE holds what GET /organization/{id}/events answered with
Accept: application/x-ndjson: one event per line, oldest first. For each
event the verifier recomputes its hash, the SHA-256 (hex) of the RFC 8785
canonical JSON of the event without `id` and `hash`, and checks that
`prev_hash` is the previous event's hash (null for the first), that `seq`
runs 1, 2, 3... with no gap or repeat, and (when given) that every event
names the org. For these events (strings, integers, null, objects and
arrays; no floats) RFC 8785 is exactly Python's json.dumps with sorted
keys, no spaces and no escaping beyond what JSON requires.

Prints one line of JSON: {"ok": true, "events": N, "head": HASH,
"actions": [...]} and exits 0, or {"ok": false, "seq": S, "why": ...}
and exits 1. Exits 2 when the input is not NDJSON at all.
"""
import hashlib
import json
import sys


def canonical(event):
    body = {k: v for k, v in event.items() if k not in ("id", "hash")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def no_floats(value):
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(no_floats(v) for v in value)
    return True


def fail(seq, why):
    print(json.dumps({"ok": False, "seq": seq, "why": why}))
    sys.exit(1)


def main():
    if len(sys.argv) < 2:
        print("usage: verify_chain.py FILE [ORG_ID|-]", file=sys.stderr)
        sys.exit(2)
    org_id = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    text = data.decode("utf-8")
    if text and not text.endswith("\n"):
        print(json.dumps({"ok": False, "seq": None, "why": "the stream ends mid-line"}))
        sys.exit(2)
    prev_hash = None
    expected_seq = 1
    actions = []
    # split on "\n" alone: str.splitlines() would also split on U+2028,
    # U+2029, U+0085 and others, which JSON strings may hold unescaped
    lines = text.split("\n")[:-1] if text else []
    for number, line in enumerate(lines, start=1):
        if line == "":
            fail(None, "an empty line %d" % number)
        try:
            event = json.loads(line)
        except ValueError as err:
            print(json.dumps({"ok": False, "seq": None, "why": "line %d: %s" % (number, err)}))
            sys.exit(2)
        seq = event.get("seq")
        want = {"org_id", "seq", "at", "actor", "action", "target", "changes", "prev_hash",
                "id", "hash"}
        if set(event) != want:
            fail(seq, "members %s, not %s" % (sorted(event), sorted(want)))
        if not no_floats(event):
            fail(seq, "a float: RFC 8785 would need its number serialization")
        if not isinstance(seq, int) or seq != expected_seq:
            fail(seq, "seq %r where %d was due" % (seq, expected_seq))
        if event["prev_hash"] != prev_hash:
            fail(seq, "prev_hash %r is not the previous event's hash %r"
                 % (event["prev_hash"], prev_hash))
        if org_id is not None and event["org_id"] != org_id:
            fail(seq, "org_id %r, not %r" % (event["org_id"], org_id))
        digest = hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()
        if digest != event["hash"]:
            fail(seq, "hash %s, recomputed %s" % (event["hash"], digest))
        prev_hash = event["hash"]
        expected_seq += 1
        actions.append(event["action"])
    print(json.dumps({"ok": True, "events": expected_seq - 1, "head": prev_hash,
                      "actions": actions}))
    sys.exit(0)


if __name__ == "__main__":
    main()
