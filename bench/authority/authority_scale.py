#!/usr/bin/python3
"""bench/authority: jit-authority itself with N hosts long-polling (loopback only).

N hosts are written straight into a fresh database (each with its own token);
each host makes its first contact (after=0: revision 1 is signed and stored),
then holds a long poll (after=1, wait=60) on its own connection. Measured: the
first-contact rate, jit-authority's RSS with all N polls held, and for 200
hosts one after another the time from an admin change (reissue of that
host's bundle) to that host's poll being answered. Stops by itself; every
phase has a deadline.

  bench/authority/authority_scale.py [--hosts 10000] build/authority/jit-authority
"""
import argparse, hashlib, http.client, os, selectors, shutil, signal, socket, sqlite3, statistics, subprocess
import sys, tempfile, time

from run import rss_kib, wait_answers

DEADLINE = 60.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("binary")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="jit-authority-scale-")
    proc = None
    try:
        conf = os.path.join(tmp, "authority.conf")
        with open(conf, "w") as f:
            f.write(f"[authority]\ndatabase = {tmp}/a.db\nsigning_key = {tmp}/k\nkey_id = bench\nlisten = 127.0.0.1:0\n")
        subprocess.run([a.binary, "-c", conf, "--init"], check=True, capture_output=True)
        admin = subprocess.run([a.binary, "-c", conf, "add-person", "carol"], check=True, capture_output=True,
                               text=True).stdout.strip()
        now = int(time.time())
        db = sqlite3.connect(f"{tmp}/a.db")
        db.executemany("INSERT INTO hosts (host_id, token_hash, created_at) VALUES (?, ?, ?)",
                       [(f"h{i}", hashlib.sha256(f"tok-{i}".encode()).hexdigest(), now) for i in range(a.hosts)])
        db.commit()
        db.close()
        proc = subprocess.Popen([a.binary, "-c", conf, "--port-file", f"{tmp}/port"], stderr=subprocess.DEVNULL)
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
        socks = {}
        for i in range(a.hosts):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET /v1/hosts/h{i}/grants?after=1&wait=60 HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer tok-{i}\r\n\r\n".encode())
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            socks[i] = s
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
        for s in socks.values():
            s.close()
        lat.sort()
        print(f"# jit-authority, {a.hosts} hosts each holding one long poll, loopback, {os.cpu_count()} cores, "
              f"{time.strftime('%Y-%m-%d')}")
        print("| hosts | first contacts/s | RSS idle MiB | RSS with polls held MiB | KiB per poll | change→poll p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {a.hosts} | {a.hosts / first_contact_s:.0f} | {rss_idle / 1024:.1f} | {rss_held / 1024:.1f} | "
              f"{(rss_held - rss_idle) / a.hosts:.2f} | {statistics.median(lat):.2f} | {lat[int(len(lat) * 0.99) - 1]:.2f} |")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
