#!/usr/bin/python3
"""bench/authority: N idle long polls against one poll server (loopback only).

For each server binary given: start it, open N connections that each send
GET /poll?host=hI and wait, read the server's RSS with all N held, wake 200
single hosts one by one (latency of a change for one host: wake sent -> that
host's answer read), then wake all and time until every poll is answered.
Bounded: every phase has a deadline; the run stops by itself.

  bench/authority/run.py [--polls 10000] BUILD/bench/authority/poll_server_mhd ...
"""
import argparse, os, selectors, signal, socket, statistics, subprocess, sys, time

DEADLINE = 60.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def open_polls(port, n, sel):
    socks = {}
    for i in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET /poll?host=h{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks[i] = s
    return socks


def wait_answers(sel, want, deadline):
    """Reads until every connection index in `want` got a response head."""
    got = {}
    while want - got.keys():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{len(want - got.keys())} polls unanswered")
        for key, _ in sel.select(timeout=left):
            try:
                data = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            if data:
                got.setdefault(key.data, time.monotonic())
            sel.unregister(key.fileobj)
    return got


def bench(binary, n):
    proc = subprocess.Popen([binary], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        rss_idle = rss_kib(proc.pid)
        sel = selectors.DefaultSelector()
        socks = open_polls(port, n, sel)
        time.sleep(2)  # let the server take every connection in
        rss_held = rss_kib(proc.pid)
        lat = []
        for i in range(0, n, max(1, n // 200)):
            t0 = time.monotonic()
            http_get(port, f"/wake?host=h{i}")
            got = wait_answers(sel, {i}, time.monotonic() + DEADLINE)
            lat.append((got[i] - t0) * 1000)
            socks.pop(i).close()
        t0 = time.monotonic()
        http_get(port, "/wake")
        got = wait_answers(sel, set(socks), time.monotonic() + DEADLINE)
        all_ms = (max(got.values()) - t0) * 1000
        for s in socks.values():
            s.close()
        lat.sort()
        return {"server": os.path.basename(binary), "polls": n, "rss_idle_mib": rss_idle / 1024,
                "rss_held_mib": rss_held / 1024, "per_poll_kib": (rss_held - rss_idle) / n,
                "one_p50_ms": statistics.median(lat), "one_p99_ms": lat[int(len(lat) * 0.99) - 1],
                "all_ms": all_ms, "answered": len(got) + len(lat)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--polls", type=int, default=10000)
    ap.add_argument("servers", nargs="+")
    a = ap.parse_args()
    print(f"# {a.polls} idle long polls on loopback, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print("| server | RSS idle MiB | RSS with polls held MiB | KiB per poll | one host p50 ms | p99 ms | all woken ms |")
    print("|---|---|---|---|---|---|---|")
    for b in a.servers:
        r = bench(b, a.polls)
        assert r["answered"] == a.polls, r
        print(f"| {r['server']} | {r['rss_idle_mib']:.1f} | {r['rss_held_mib']:.1f} | {r['per_poll_kib']:.2f} "
              f"| {r['one_p50_ms']:.2f} | {r['one_p99_ms']:.2f} | {r['all_ms']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
