"""Two jit-authority replicas sharing one PostgreSQL (Debian's postgresql 15,
a throw-away cluster in a temp dir, run as nobody): a change through one
replica answers a long poll held by the other (LISTEN/NOTIFY), both serve the
same bytes for a revision, and revisions issued through either never repeat;
a person's certificate renewed through one replica stops at once on a third
(over TLS), the new one works there, the page's session with the old one ends;
a new signing key on one replica (one transaction re-signs many hosts, announced
in one NOTIFY) answers the polls of every host held by the other.
Root only (the cluster runs as nobody); exit 77 (skipped) otherwise.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority python3 -m unittest -v jit_authority_postgres
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from jit_authority_tls import tls_call
from protocol_conformance import CPP_BIN, CppAuthority, decode_envelope, payload_of
from test_tls import make_leaf, make_pki
from web_ui_certificate import Browser

PG_BIN = "/usr/lib/postgresql/15/bin"


def as_nobody(*cmd):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd],
                          check=True, capture_output=True, text=True, timeout=120)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(os.geteuid() == 0 and os.access(f"{PG_BIN}/initdb", os.X_OK) and CPP_BIN
                     and os.access(CPP_BIN, os.X_OK), "needs root, postgresql 15 and JIT_AUTHORITY_BIN")
class TwoReplicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="jit-authority-pg-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)  # class cleanups run last-registered first
        os.chmod(cls.dir, 0o755)
        shutil.chown(cls.dir, "nobody", "nogroup")
        port = free_port()
        as_nobody(f"{PG_BIN}/initdb", "-D", f"{cls.dir}/data", "-A", "trust", "-U", "jit", "--no-sync")
        as_nobody(f"{PG_BIN}/pg_ctl", "-D", f"{cls.dir}/data", "-l", f"{cls.dir}/pg.log", "-w", "-o",
                  f"-k {cls.dir} -p {port} -c listen_addresses='' -c fsync=off", "start")
        cls.addClassCleanup(lambda: as_nobody(f"{PG_BIN}/pg_ctl", "-D", f"{cls.dir}/data", "-m", "immediate", "stop"))
        subprocess.run([f"{PG_BIN}/../bin/createdb" if os.path.exists(f"{PG_BIN}/createdb") else "createdb",
                        "-h", cls.dir, "-p", str(port), "-U", "jit", "jit"], check=True, capture_output=True)
        uri = cls.uri = f"postgresql:///jit?host={cls.dir}&port={port}&user=jit"
        cls.a = CppAuthority(database=uri)
        cls.addClassCleanup(cls.a.cleanup)
        cls.b = CppAuthority(database=uri, admin_token=cls.a.admin_token)
        cls.addClassCleanup(cls.b.cleanup)
        cls.token = cls.admin(cls.a, "POST", "/hosts", {"host_id": "web-01"})["token"]

    @staticmethod
    def admin(replica, method, path, body=None):
        resp = replica.request(method, "/admin" + path, body=body, token=replica.admin_token)
        assert resp.status < 400, resp
        return resp.json()

    def poll(self, replica, after, wait=0):
        return replica.request("GET", f"/v1/hosts/web-01/grants?after={after}&wait={wait}", token=self.token)

    def test_both_replicas_serve_the_same_bytes(self):
        a, b = self.poll(self.a, 0), self.poll(self.b, 0)
        self.assertEqual(a.status, 200)
        self.assertEqual(a.body, b.body)

    def test_a_change_through_one_replica_answers_a_poll_held_by_the_other(self):
        current = payload_of(self.poll(self.b, 0))["revision"]
        result = {}
        poller = threading.Thread(target=lambda: result.update(r=self.poll(self.b, current, wait=20)))
        poller.start()
        time.sleep(0.5)  # the poll is held by replica b
        grant = self.admin(self.a, "POST", "/hosts/web-01/grants",
                           {"user": "alice", "duration_seconds": 600, "reason": "replicas"})["grant"]
        poller.join(30)
        resp = result["r"]
        self.assertEqual(resp.status, 200, f"replica b was not woken: {resp}")
        p = payload_of(resp)
        self.assertGreater(p["revision"], current)
        self.assertIn(grant["id"], [g["id"] for g in p["grants"]])

    def test_revisions_through_either_replica_never_repeat(self):
        seen = []
        for replica in (self.a, self.b, self.a, self.b):
            seen.append(self.admin(replica, "POST", "/hosts/web-01/reissue")["revision"])
        self.assertEqual(seen, sorted(set(seen)), seen)
        self.assertEqual(payload_of(self.poll(self.a, 0))["revision"], seen[-1])

    def test_people_certificate_renewed_through_one_replica_stops_at_once_on_another(self):
        # A third replica over TLS with client certificates (the other two speak plain http on loopback).
        pki = tempfile.mkdtemp(prefix="jit-authority-pg-pki-")
        self.addCleanup(shutil.rmtree, pki, True)
        make_pki(pki)
        for name in ("alice", "alice-renewed"):
            make_leaf(pki, name, "alice")
        p = lambda n: os.path.join(pki, n)  # noqa: E731
        c = CppAuthority(database=self.uri, admin_token=self.a.admin_token,
                         extra=f"tls_cert = {p('server.pem')}\ntls_key = {p('server.key')}\nclient_ca = {p('ca.pem')}\n")
        self.addCleanup(c.cleanup)
        def pem(name):
            with open(p(f"{name}.pem"), encoding="utf-8") as f:
                return f.read()
        whoami = lambda cert: tls_call(pki, c.port, "GET", "/admin/whoami", cert=cert)  # noqa: E731
        bound = self.admin(self.a, "POST", "/people", {"name": "alice", "role": "requester", "cert": pem("alice")})
        self.assertEqual(whoami("alice"), (200, {"name": "alice", "role": "requester"}))
        page = Browser(pki, c.port, "alice")
        self.assertEqual(page.get("/ui/login")[:2], (303, "/ui/"), "the page signs alice in by her certificate")
        self.assertEqual(page.get("/ui/")[0], 200)
        renewed = self.admin(self.b, "POST", "/people/alice/cert", {"cert": pem("alice-renewed")})
        self.assertEqual(renewed["old_cert_sha256"], bound["cert_sha256"])
        self.assertEqual(whoami("alice")[0], 401, "the old certificate works nowhere once the change is committed")
        self.assertEqual(page.get("/ui/")[:2], (303, "/ui/login"), "nor does the page's session signed in with it")
        self.assertEqual(whoami("alice-renewed"), (200, {"name": "alice", "role": "requester"}))
        resp = self.a.request("POST", "/admin/people", body={"name": "mallory", "role": "admin",
                                                             "cert": pem("alice-renewed")}, token=self.a.admin_token)
        self.assertEqual(resp.status, 409, resp)
        record = [x for x in self.admin(self.a, "GET", "/actions") if x["action"] == "person.cert"]
        self.assertEqual([(x["actor"], x["target"], x["detail"]) for x in record],
                         [("carol", "alice", {"old_cert_sha256": bound["cert_sha256"],
                                              "cert_sha256": renewed["cert_sha256"]})])

    # Named to run last (unittest sorts by name): replica a signs with another key afterwards.
    def test_z_a_new_key_on_one_replica_wakes_every_host_held_by_the_other(self):
        hosts = [f"db-{i:02d}" for i in range(40)]
        tokens = {h: self.admin(self.a, "POST", "/hosts", {"host_id": h})["token"] for h in hosts}
        current = {}
        for h in hosts:
            resp = self.b.request("GET", f"/v1/hosts/{h}/grants?after=0", token=tokens[h])
            current[h] = payload_of(resp)["revision"]
        results = {}

        def hold(h):
            results[h] = self.b.request("GET", f"/v1/hosts/{h}/grants?after={current[h]}&wait=30", token=tokens[h])
        pollers = [threading.Thread(target=hold, args=(h,)) for h in hosts]
        for t in pollers:
            t.start()
        time.sleep(1.0)  # every poll is held by replica b
        # Replica a switches to a new key (SIGHUP) and re-signs every host, 1,024 per transaction.
        subprocess.run([CPP_BIN, "-c", self.a.config, "new-key", f"{self.a.tmp}/k2"], check=True, capture_output=True)
        with open(self.a.config, encoding="utf-8") as f:
            conf = f.read()
        conf = conf.replace(f"signing_key = {self.a.tmp}/signing.key", f"signing_key = {self.a.tmp}/k2")
        conf = "\n".join("key_id = rotated" if line.startswith("key_id = ") else line for line in conf.split("\n"))
        with open(self.a.config, "w", encoding="utf-8") as f:
            f.write(conf)
        self.a.proc.send_signal(signal.SIGHUP)
        for t in pollers:
            t.join(40)
        late = [h for h in hosts if results.get(h) is None or results[h].status != 200]
        self.assertEqual(late, [], "polls held by replica b not woken by replica a's re-signing")
        for h in hosts:
            envelope, payload, _ = decode_envelope(results[h].body)
            self.assertEqual(envelope["key_id"], "rotated", h)
            self.assertGreater(json.loads(payload)["revision"], current[h])
        # The views of every host read their latest bundles in one query (latest_bundles), here from PostgreSQL.
        keys = self.admin(self.a, "GET", "/keys")
        self.assertEqual((keys["hosts"], keys["latest_bundles_by_key"]), (41, {"rotated": 41}), keys)
        listed = self.admin(self.b, "GET", "/hosts")
        self.assertEqual(sorted(h["host_id"] for h in listed), sorted(hosts + ["web-01"]))
        self.assertEqual([h["host_id"] for h in listed if "issued_at" not in h], [], "a host listed without its bundle")


if __name__ == "__main__":
    unittest.main()
