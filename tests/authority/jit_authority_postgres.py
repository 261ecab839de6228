"""Two jit-authority replicas sharing one PostgreSQL (Debian's postgresql 15,
a throw-away cluster in a temp dir, run as nobody): a change through one
replica answers a long poll held by the other (LISTEN/NOTIFY), both serve the
same bytes for a revision, and revisions issued through either never repeat;
a person's certificate renewed through one replica stops at once on a third
(over TLS), the new one works there, the page's session with the old one ends;
a new signing key on one replica (one transaction re-signs many hosts, announced
in one NOTIFY) answers the polls of every host held by the other; both replicas
re-signing the same 2,100 hosts at once (a batch of hosts locked, read and
stored by one statement each) lose no revision, reuse none, and serve every
revision with its stored bytes.
Root only (the cluster runs as nobody); exit 77 (skipped) otherwise.

  cd tests/authority && JIT_AUTHORITY_BIN=build/authority/jit-authority python3 -m unittest -v jit_authority_postgres
"""
import http.client
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


def start_replicas(cls):
    """A throw-away cluster and two replicas on it (cls.a, cls.b); cls.psql runs SQL on its database."""
    cls.dir = tempfile.mkdtemp(prefix="jit-authority-pg-")
    cls.addClassCleanup(shutil.rmtree, cls.dir, True)  # class cleanups run last-registered first
    os.chmod(cls.dir, 0o755)
    shutil.chown(cls.dir, "nobody", "nogroup")
    port = free_port()
    as_nobody(f"{PG_BIN}/initdb", "-D", f"{cls.dir}/data", "-A", "trust", "-U", "jit", "--no-sync")
    as_nobody(f"{PG_BIN}/pg_ctl", "-D", f"{cls.dir}/data", "-l", f"{cls.dir}/pg.log", "-w", "-o",
              f"-k {cls.dir} -p {port} -c listen_addresses='' -c fsync=off", "start")
    cls.addClassCleanup(lambda: as_nobody(f"{PG_BIN}/pg_ctl", "-D", f"{cls.dir}/data", "-m", "immediate", "stop"))
    subprocess.run([f"{PG_BIN}/createdb", "-h", cls.dir, "-p", str(port), "-U", "jit", "jit"], check=True,
                   capture_output=True)
    cls.psql_argv = [f"{PG_BIN}/psql", "-h", cls.dir, "-p", str(port), "-U", "jit", "-d", "jit", "-q", "-X",
                     "-v", "ON_ERROR_STOP=1"]
    uri = cls.uri = f"postgresql:///jit?host={cls.dir}&port={port}&user=jit"
    cls.a = CppAuthority(database=uri)
    cls.addClassCleanup(cls.a.cleanup)
    cls.b = CppAuthority(database=uri, admin_token=cls.a.admin_token)
    cls.addClassCleanup(cls.b.cleanup)


def psql(cls, sql):
    """Rows of a query, as lists of strings (fields separated by a unit separator)."""
    out = subprocess.run([*cls.psql_argv, "-A", "-t", "-F", "\x1f", "-c", sql], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return [line.split("\x1f") for line in out.split("\n") if line]


def rotate_key(replica, key_id):
    """The replica switches to a new signing key (its own file) and re-signs every host's bundle (SIGHUP)."""
    key = f"{replica.tmp}/{key_id}.key"
    subprocess.run([CPP_BIN, "-c", replica.config, "new-key", key], check=True, capture_output=True)
    with open(replica.config, encoding="utf-8") as f:
        lines = f.read().split("\n")
    lines = [f"signing_key = {key}" if line.startswith("signing_key = ") else
             f"key_id = {key_id}" if line.startswith("key_id = ") else line for line in lines]
    with open(replica.config, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    replica.proc.send_signal(signal.SIGHUP)


needs_postgres = unittest.skipUnless(os.geteuid() == 0 and os.access(f"{PG_BIN}/initdb", os.X_OK) and CPP_BIN
                                     and os.access(CPP_BIN, os.X_OK), "needs root, postgresql 15 and JIT_AUTHORITY_BIN")


@needs_postgres
class TwoReplicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        start_replicas(cls)
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
        rotate_key(self.a, "rotated")
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


@needs_postgres
class ConcurrentReSigning(unittest.TestCase):
    """Both replicas re-sign the same hosts at once, a batch of up to 1,024 per
    transaction (each switched to a key of its own, so each re-signs every
    host), while single hosts are re-issued through both: no revision is lost
    or reused, and every revision served has the bytes stored for it."""

    HOSTS = 2100  # three batches per replica
    REISSUED = range(0, HOSTS, 10)  # also re-issued once through each replica, meanwhile
    WATCHED = range(5, HOSTS, 21)  # long polls held (on both replicas) through it all
    ROUNDS = 3

    @classmethod
    def setUpClass(cls):
        start_replicas(cls)

    def first_contacts(self, replica, hosts):
        conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=60)
        try:
            for i in hosts:
                conn.request("GET", f"/v1/hosts/web-{i:04d}/grants?after=0", headers={"Authorization": f"Bearer tok-{i}"})
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 200, i)
        finally:
            conn.close()

    def signed_by_each(self, keys):
        """Whether every host has a bundle signed with each of the keys (both replicas' re-signing done)."""
        missing = " OR ".join("NOT EXISTS (SELECT 1 FROM bundles b WHERE b.host_id = h.host_id AND b.envelope LIKE "
                              f"'{{\"key_id\":\"{k}\",%')" for k in keys)
        return psql(self, f"SELECT count(*) FROM hosts h WHERE {missing}") == [["0"]]

    def test_no_revision_lost_or_reused_and_every_served_revision_is_the_stored_one(self):
        n = self.HOSTS
        psql(self, "INSERT INTO hosts (host_id, token_hash, created_at) SELECT 'web-' || lpad(i::text, 4, '0'), "
                   "encode(sha256(('tok-' || i)::bytea), 'hex'), 0 FROM generate_series(0, %d) i" % (n - 1))
        halves = [threading.Thread(target=self.first_contacts, args=(r, range(k, n, 2)))
                  for k, r in enumerate((self.a, self.b))]
        for t in halves:
            t.start()
        for t in halves:
            t.join(300)
        self.assertEqual(psql(self, "SELECT count(*) FROM hosts WHERE revision = 1"), [[str(n)]])

        served = {}  # (replica port, host) -> [(revision, body)], from long polls held through it all
        done = threading.Event()
        deadline = time.monotonic() + 180

        def watch(replica, i):
            host, got, after = f"web-{i:04d}", [], 1
            conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=60)
            try:
                while not done.is_set() and time.monotonic() < deadline:
                    conn.request("GET", f"/v1/hosts/{host}/grants?after={after}&wait=2",
                                 headers={"Authorization": f"Bearer tok-{i}"})
                    resp = conn.getresponse()
                    body = resp.read()
                    if resp.status == 200:
                        after = json.loads(decode_envelope(body)[1])["revision"]
                        got.append((after, body))
            finally:
                conn.close()
                served[(replica.port, host)] = got
        latest = {}  # (replica port, host) -> [(revision, body)], every host asked for its latest over and over

        def sweep(replica):
            conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=60)
            try:
                while not done.is_set() and time.monotonic() < deadline:
                    for i in range(n):
                        conn.request("GET", f"/v1/hosts/web-{i:04d}/grants?after=0",
                                     headers={"Authorization": f"Bearer tok-{i}"})
                        resp = conn.getresponse()
                        body = resp.read()
                        if resp.status == 200:
                            got = latest.setdefault((replica.port, f"web-{i:04d}"), [])
                            revision = json.loads(decode_envelope(body)[1])["revision"]
                            if not got or got[-1][0] != revision:
                                got.append((revision, body))
            finally:
                conn.close()
        watchers = [threading.Thread(target=watch, args=(r, i)) for i in self.WATCHED for r in (self.a, self.b)]
        watchers += [threading.Thread(target=sweep, args=(r,)) for r in (self.a, self.b)]
        for t in watchers:
            t.start()
        time.sleep(1.0)  # the polls are held

        reissued = {}  # replica port -> {host: revision}
        refused = []

        def reissue(replica):
            got = reissued.setdefault(replica.port, {})
            conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=60)
            try:
                for i in self.REISSUED:
                    conn.request("POST", f"/admin/hosts/web-{i:04d}/reissue",
                                 headers={"Authorization": f"Bearer {replica.admin_token}"})
                    resp = conn.getresponse()
                    body = resp.read()
                    if resp.status != 200:
                        refused.append((replica.port, i, resp.status, body))
                    else:
                        got[f"web-{i:04d}"] = json.loads(body)["revision"]
            finally:
                conn.close()
        # Three rounds: both replicas switch to new keys of their own at once; in the first, single hosts are
        # re-issued through both meanwhile. Each replica re-signs every host whose latest bundle is not signed
        # with its own key: every host ends each round with a bundle signed by each (unless a batch was lost).
        for round_ in range(self.ROUNDS):
            keys = (f"key-a{round_}", f"key-b{round_}")
            rotate_key(self.a, keys[0])
            rotate_key(self.b, keys[1])
            for replica, key_id in zip((self.a, self.b), keys):  # reloaded: what it issues now is signed with key_id
                while self.admin_get(replica, "/keys")["key_id"] != key_id and time.monotonic() < deadline:
                    time.sleep(0.01)
            if round_ == 0:
                reissuers = [threading.Thread(target=reissue, args=(r,)) for r in (self.a, self.b)]
                for t in reissuers:
                    t.start()
                for t in reissuers:
                    t.join(120)
                self.assertEqual(refused, [], "a re-issue refused")
            while not self.signed_by_each(keys) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self.signed_by_each(keys):
                done.set()
                self.fail(f"round {round_}: a host not re-signed by one of the replicas; logs:\n" +
                          "\n".join(r.read_log()[-3000:] for r in (self.a, self.b)))
        done.set()
        for t in watchers:
            t.join(60)

        # Every host: its counter is its last stored revision, and every revision up to it is stored (none
        # counted without its envelope, none skipped, none above).
        counters = {h: int(r) for h, r in psql(self, "SELECT host_id, revision FROM hosts")}
        stored = {}
        for host, revision, envelope in psql(self, "SELECT host_id, revision, envelope FROM bundles"):
            stored[(host, int(revision))] = envelope
        gaps = [h for h, last in counters.items() if [r for r in range(1, last + 1) if (h, r) not in stored]]
        self.assertEqual(gaps, [], "a revision counted but its envelope not stored")
        self.assertEqual(len(stored), sum(counters.values()), "an envelope above its host's counter")
        self.assertGreaterEqual(min(counters.values()), 1 + 2 * self.ROUNDS, "a host with fewer re-signs than rounds")
        # The revisions the admin API handed out through each replica: distinct, stored, signed with its key.
        for i in self.REISSUED:
            host = f"web-{i:04d}"
            pair = [reissued[r.port][host] for r in (self.a, self.b)]
            self.assertNotEqual(pair[0], pair[1], f"{host}: one revision handed out by both replicas")
            for revision, key_id in zip(pair, ("key-a0", "key-b0")):
                self.assertEqual(json.loads(stored[(host, revision)])["key_id"], key_id, (host, revision))
        # What the held polls were served: revisions rising to the last one, the bytes stored for each.
        for (port, host), got in served.items():
            revisions = [r for r, _ in got]
            self.assertEqual(revisions, sorted(set(revisions)), (port, host))
            self.assertEqual(revisions[-1:], [counters[host]], f"{host} on {port}: last revision not served")
            for revision, body in got:
                self.assertEqual(body.decode(), stored[(host, revision)], f"{host} revision {revision} on {port}")
        # Hosts asking for their latest bundle all along (each host's last_seen written, many rows per
        # transaction, while the batches are re-signed): never a revision going back, the stored bytes.
        for (port, host), got in latest.items():
            revisions = [r for r, _ in got]
            self.assertEqual(revisions, sorted(set(revisions)), (port, host))
            for revision, body in got:
                self.assertEqual(body.decode(), stored[(host, revision)], f"{host} revision {revision} on {port}")
        # Every host, from either replica: the stored bytes of its last revision.
        for replica in (self.a, self.b):
            conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=60)
            for i in range(n):
                host = f"web-{i:04d}"
                conn.request("GET", f"/v1/hosts/{host}/grants?after=0", headers={"Authorization": f"Bearer tok-{i}"})
                resp = conn.getresponse()
                self.assertEqual(resp.read().decode(), stored[(host, counters[host])], host)
            conn.close()
        # Neither replica's re-signing failed: a deadlock between them, or a revision refused as not above the
        # host's counter, would be logged (and the batch retried).
        for replica in (self.a, self.b):
            log = replica.read_log()
            self.assertNotIn("re-signing under the new key:", log)
            self.assertNotIn("heartbeat:", log)
            self.assertNotIn("deadlock", log)

    def admin_get(self, replica, path):
        resp = replica.request("GET", "/admin" + path, token=replica.admin_token)
        self.assertEqual(resp.status, 200, resp)
        return resp.json()

if __name__ == "__main__":
    unittest.main()
