#!/usr/bin/env python3
"""The upload queue with its real curl transport against the reference authority
(tests/authority/jit-authority): a kill -9 between send and acknowledgement, a
lost answer (drop-after) and 503s lose nothing and store nothing twice.
usage: upload_authority_e2e.py UPLOAD_TOOL AUTHORITY_DIR      (exit 77 = skipped)"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOOL, AUTH_DIR = sys.argv[1], sys.argv[2]
if not os.path.exists(os.path.join(AUTH_DIR, "authority_fixture.py")):
    print("SKIP: reference authority not found in", AUTH_DIR)
    sys.exit(77)
sys.path.insert(0, AUTH_DIR)
from authority_fixture import AuthorityProcess  # noqa: E402

HOST = "upload-e2e"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args, **kw):
    return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=60, **kw)


tmp = tempfile.mkdtemp(prefix="jit-upload-e2e-")
spool = os.path.join(tmp, "upload")
auth = AuthorityProcess(admin_token="admin-token-e2e")
try:
    url = f"http://127.0.0.1:{auth.port}/v1/hosts/{HOST}/events"
    auth.admin("POST", "/hosts", {"host_id": HOST})

    def stored():
        got = auth.admin("GET", f"/hosts/{HOST}/events")
        return [e["seq"] for e in got["events"]], got

    # 1. Three events spooled, then a sender killed with SIGKILL while its POST is in flight:
    #    the authority stores them after its delay, but the host never saw the 204.
    check(run(spool, "emit", "3").returncode == 0, "spool 3 events")
    auth.admin("POST", "/faults", {"endpoint": "events", "mode": "delay", "seconds": 2, "host": HOST})
    sender = subprocess.Popen([TOOL, spool, "flush", url, auth.token], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and auth.admin("GET", "/faults")["rules"]:
        time.sleep(0.05)  # the rule is consumed when the request arrives
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(stored()[0]) < 3:
        time.sleep(0.1)
    check(stored()[0] == [1, 2, 3], "authority stored 1..3 although the sender died before the ack")

    # 2. seq continues after the kill; the next sender re-sends 1..3 (never acknowledged) with 4..5.
    check(run(spool, "emit", "2").returncode == 0, "spool 2 more events")
    # 3. The first answer is lost after the authority stored the batch (drop-after), then 2 x 503.
    auth.admin("POST", "/faults", {"endpoint": "events", "mode": "drop-after", "host": HOST})
    auth.admin("POST", "/faults", {"endpoint": "events", "mode": "error", "count": 2, "host": HOST})
    r = run(spool, "flush", url, auth.token)
    check(r.returncode == 0 and "pending=0 next_seq=6 acked_through=5" in r.stdout,
          f"flush ends with everything acknowledged ({r.stdout.strip()} {r.stderr.strip()})")
    seqs, got = stored()
    check(seqs == [1, 2, 3, 4, 5], f"authority has each of 1..5 exactly once (got {seqs})")
    check(got["duplicates"] >= 3, f"re-sends happened and were de-duplicated ({got['duplicates']} duplicates)")
    check(all(e["type"] == "login.allowed" and e["user"] == "alice" and e["grant_id"] == "g-e2e"
              for e in got["events"]), "uploaded events carry type, user and grant_id")

    # 4. Nothing is re-sent once acknowledged, even across a restart.
    received = got["received"]
    r = run(spool, "flush", url, auth.token)
    check(r.returncode == 0 and stored()[1]["received"] == received, "no re-send after acknowledgement")
    check(not [f for f in os.listdir(spool) if f.startswith("spool-")], "acknowledged spool files deleted")
    check(run(spool, "emit", "1").returncode == 0 and run(spool, "flush", url, auth.token).returncode == 0
          and stored()[0] == [1, 2, 3, 4, 5, 6], "seq 6 follows after restarts")
finally:
    auth.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    print("FAIL:", len(failures), "check(s) failed")
    sys.exit(1)
print("PASS: upload queue + curl transport against the reference authority")
