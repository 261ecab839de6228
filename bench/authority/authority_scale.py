#!/usr/bin/python3
"""bench/authority: jit-authority itself with N hosts long-polling (loopback only).

N hosts are written straight into a fresh database (each with its own token);
each host makes its first contact (after=0: revision 1 is signed and stored),
then holds a long poll (after=1, wait=60) on its own connection. Measured: the
first-contact rate, jit-authority's RSS with all N polls held, for 200 hosts
one after another the time from an admin change (reissue of that host's
bundle) to that host's poll being answered, then a change for every host at
once (a new signing key, switched with SIGHUP: every bundle is re-signed) to
the last held poll answered; then, polls closed, request submission
(POST /admin/requests, one person, one connection) and approval throughput.
--postgres runs the same on a throw-away PostgreSQL 15 cluster (root; the
cluster runs as nobody, fsync on). Stops by itself; every phase has a deadline.

  bench/authority/authority_scale.py [--hosts 10000] [--requests 1000] [--postgres] build/authority/jit-authority
"""
import argparse, hashlib, http.client, os, selectors, shutil, signal, socket, sqlite3, statistics, subprocess
import json, sys, tempfile, time

from run import rss_kib, wait_answers

DEADLINE = 60.0
PG_BIN = "/usr/lib/postgresql/15/bin"


def as_nobody(*cmd):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd], check=True,
                          capture_output=True, text=True)


def start_postgres(tmp):
    """A throw-away cluster in tmp (fsync on, like SQLite's synchronous=FULL); returns (uri, psql argv)."""
    os.chmod(tmp, 0o755)
    shutil.chown(tmp, "nobody", "nogroup")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    as_nobody(f"{PG_BIN}/initdb", "-D", f"{tmp}/pg", "-A", "trust", "-U", "jit", "--no-sync")
    as_nobody(f"{PG_BIN}/pg_ctl", "-D", f"{tmp}/pg", "-l", f"{tmp}/pg.log", "-w", "-o",
              f"-k {tmp} -p {port} -c listen_addresses='' -c shared_preload_libraries=pg_stat_statements", "start")
    psql = [f"{PG_BIN}/psql", "-h", tmp, "-p", str(port), "-U", "jit", "-q", "-v", "ON_ERROR_STOP=1"]
    subprocess.run([*psql, "-d", "postgres", "-c", "CREATE DATABASE jit"], check=True, capture_output=True)
    # Statements executed per phase (round trips of the daemon), whatever the machine's load.
    subprocess.run([*psql, "-d", "jit", "-c", "CREATE EXTENSION pg_stat_statements"], check=True, capture_output=True)
    return f"postgresql:///jit?host={tmp}&port={port}&user=jit", [*psql, "-d", "jit"]


def cpu_s(pid):
    """utime + stime of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_cpu_s(tmp):
    """CPU time of the PostgreSQL server: the postmaster and every process it runs (backends, walwriter, ...)."""
    with open(f"{tmp}/pg/postmaster.pid") as f:
        postmaster = int(f.readline())
    total = cpu_s(postmaster)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                    total += cpu_s(int(d))
        except (OSError, ValueError, IndexError):
            pass  # gone meanwhile
    return total


def call(conn, method, path, token, body=None):
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    assert r.status in (200, 201), (method, path, r.status, data)
    return json.loads(data)


def hold_polls(port, hosts, after, sel):
    socks = {}
    for i in hosts:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET /v1/hosts/h{i}/grants?after={after[i]}&wait=60 HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer tok-{i}\r\n\r\n".encode())
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks[i] = s
    return socks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL 15 instead of SQLite (root)")
    ap.add_argument("binary")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="jit-authority-scale-")
    proc = None
    pg_stop = None
    try:
        now = int(time.time())
        if a.postgres:
            database, psql = start_postgres(tmp)
            pg_stop = lambda: as_nobody(f"{PG_BIN}/pg_ctl", "-D", f"{tmp}/pg", "-m", "immediate", "stop")
        else:
            database = f"{tmp}/a.db"
        conf = os.path.join(tmp, "authority.conf")
        with open(conf, "w") as f:
            f.write(f"[authority]\ndatabase = {database}\nsigning_key = {tmp}/k\nkey_id = bench\nlisten = 127.0.0.1:0\n\n"
                    "[group all]\nhosts = h*\n\n[rule bench]\ngroups = all\nrequesters = alice\napprovers = carol\n"
                    "approvals = 1\nmax_duration = 2h\n")
        subprocess.run([a.binary, "-c", conf, "--init"], check=True, capture_output=True)
        admin = subprocess.run([a.binary, "-c", conf, "add-person", "carol"], check=True, capture_output=True,
                               text=True).stdout.strip()
        alice = subprocess.run([a.binary, "-c", conf, "add-person", "alice", "--role", "requester"], check=True,
                               capture_output=True, text=True).stdout.strip()
        if a.postgres:
            subprocess.run([*psql, "-c", "INSERT INTO hosts (host_id, token_hash, created_at) SELECT 'h' || i, "
                            f"encode(sha256(('tok-' || i)::bytea), 'hex'), {now} FROM generate_series(0, {a.hosts - 1}) i"],
                           check=True, capture_output=True)
        else:
            db = sqlite3.connect(database)
            db.executemany("INSERT INTO hosts (host_id, token_hash, created_at) VALUES (?, ?, ?)",
                           [(f"h{i}", hashlib.sha256(f"tok-{i}".encode()).hexdigest(), now) for i in range(a.hosts)])
            db.commit()
            db.close()
        log = open(f"{tmp}/authority.log", "w")
        proc = subprocess.Popen([a.binary, "-c", conf, "--port-file", f"{tmp}/port"], stderr=log)
        for _ in range(200):
            if os.path.exists(f"{tmp}/port"):
                break
            time.sleep(0.05)
        port = int(open(f"{tmp}/port").readline())
        rss_idle = rss_kib(proc.pid)

        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(a.hosts):
            conn.request("GET", f"/v1/hosts/h{i}/grants?after=0", headers={"Authorization": f"Bearer tok-{i}"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, (i, r.status)
        first_contact_s = time.monotonic() - t0
        conn.close()

        sel = selectors.DefaultSelector()
        after = {i: 1 for i in range(a.hosts)}
        socks = hold_polls(port, range(a.hosts), after, sel)
        time.sleep(2)
        rss_held = rss_kib(proc.pid)

        lat = []
        admin_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(0, a.hosts, max(1, a.hosts // 200)):
            t = time.monotonic()
            admin_conn.request("POST", f"/admin/hosts/h{i}/reissue", headers={"Authorization": f"Bearer {admin}"})
            r = admin_conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            got = wait_answers(sel, {i}, time.monotonic() + DEADLINE)
            lat.append((got[i] - t) * 1000)
            after[i] += 1
        # Fresh polls for every host (each with its whole wait ahead of it).
        for s_ in socks.values():
            s_.close()
        sel = selectors.DefaultSelector()
        socks = hold_polls(port, range(a.hosts), after, sel)
        time.sleep(2)

        # A change for every host at once: a new signing key (SIGHUP), every bundle re-signed.
        subprocess.run([a.binary, "-c", conf, "new-key", f"{tmp}/k2"], check=True, capture_output=True)
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace(f"signing_key = {tmp}/k\n", f"signing_key = {tmp}/k2\n").replace("key_id = bench\n",
                                                                                                    "key_id = bench2\n"))
        cpu0 = cpu_s(proc.pid)
        pg0 = pg_cpu_s(tmp) if a.postgres else 0.0
        if a.postgres:
            subprocess.run([*psql, "-c", "SELECT pg_stat_statements_reset()"], check=True, capture_output=True)
        t = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        got = wait_answers(sel, set(range(a.hosts)), t + DEADLINE)
        all_ms = sorted((v - t) * 1000 for v in got.values())
        all_cpu = cpu_s(proc.pid) - cpu0  # the daemon's own CPU time for it (the machine may be shared)
        all_pg_cpu = pg_cpu_s(tmp) - pg0 if a.postgres else 0.0
        statements = ""
        if a.postgres:
            calls = subprocess.run([*psql, "-At", "-c", "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                                    "WHERE query NOT LIKE '%pg_stat_statements%'"],
                                   check=True, capture_output=True, text=True).stdout.strip()
            statements = f"; statements the server ran for it: {int(calls)} ({int(calls) / a.hosts:.2f} per host)"
        rss_all = rss_kib(proc.pid)
        for s_ in socks.values():
            s_.close()

        # Request submission and approval throughput (one person, one keep-alive connection each).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ids = []
        t = time.monotonic()
        for k in range(a.requests):
            ids.append(call(conn, "POST", "/admin/requests", alice,
                            {"host_id": f"h{k % a.hosts}", "duration_seconds": 3600, "reason": f"bench {k}"})["id"])
        submit_s = time.monotonic() - t
        t = time.monotonic()
        for rid in ids:
            assert call(conn, "POST", f"/admin/requests/{rid}/approve", admin, {"comment": "ok"})["state"] == "approved"
        approve_s = time.monotonic() - t
        conn.close()
        backend = "PostgreSQL 15 (fsync on)" if a.postgres else "SQLite (WAL, synchronous=FULL)"
        print(f"# jit-authority on {backend}, {a.hosts} hosts each holding one long poll, loopback, "
              f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
        print("| backend | hosts | first contacts/s | RSS idle MiB | RSS with polls held MiB | KiB per poll "
              "| change→poll p50 ms | p99 ms | new key → all polls answered p50 s | last s | requests/s | approvals/s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        lat.sort()
        print(f"| {'PostgreSQL' if a.postgres else 'SQLite'} | {a.hosts} | {a.hosts / first_contact_s:.0f} "
              f"| {rss_idle / 1024:.1f} | {rss_held / 1024:.1f} | {(rss_held - rss_idle) / a.hosts:.2f} "
              f"| {statistics.median(lat):.2f} | {lat[int(len(lat) * 0.99) - 1]:.2f} "
              f"| {statistics.median(all_ms) / 1000:.2f} | {all_ms[-1] / 1000:.2f} "
              f"| {a.requests / submit_s:.0f} | {a.requests / approve_s:.0f} |")
        print(f"(RSS after the all-hosts change: {rss_all / 1024:.1f} MiB; jit-authority's CPU time for it: "
              f"{all_cpu:.2f} s" + (f"; the PostgreSQL server's: {all_pg_cpu:.2f} s{statements}" if a.postgres else "") +
              f"; load average at the end: {os.getloadavg()[0]:.1f})")
        return 0
    except BaseException:
        if os.path.exists(f"{tmp}/authority.log"):
            with open(f"{tmp}/authority.log") as f:
                sys.stderr.write("jit-authority's log:\n" + f.read()[-4000:])
        if proc is not None:
            sys.stderr.write(f"jit-authority: {'running' if proc.poll() is None else f'exited {proc.returncode}'}\n")
        raise
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if pg_stop is not None:
            pg_stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
