#!/usr/bin/env python3
"""Turns run-bench.sh output into the Markdown tables of docs/performance.md.
   bench/nss/summarize.py < raw-output.txt"""
import re
import sys

rows, publish = {}, []
for line in sys.stdin:
    m = re.match(r'(\S+) (\S+) (\S+) (\S+) p50_ns=(\d+)', line)
    if m:
        cfg, op, name, _res, p50 = m.groups()
        rows[(cfg, op, name)] = int(p50)
    elif line.startswith(('publish/', 'republish-unchanged/')):
        kind, rest = line.split(' ', 1)
        publish.append((kind, rest.split(';')[0].strip()))

sizes = sorted({int(c.split('/')[1]) for c, _, _ in rows if c.startswith('jit/')})
us = lambda v: f"{v / 1000:.2f}" if v < 100000 else f"{v / 1000:,.0f}"
print("Lookup latency, p50 in µs per call:\n")
print("| JIT users | call | `jit` hit | `jit` miss | `files jit` hit | `files jit` miss | module direct hit | module direct miss | `files`, N entries, hit | `files`, N entries, miss | `files` ÷ `jit` (hit) | `files` ÷ `files jit` (hit) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for n in sizes:
    h, fh = f"u{n // 2}", f"f{n // 2}"
    for op in ["getpwnam", "getpwuid", "initgroups"]:
        j, jm = rows[(f"jit/{n}", op, h)], rows[(f"jit/{n}", op, "nosuchuser")]
        fj, fjm = rows[(f"files+jit/{n}", op, h)], rows[(f"files+jit/{n}", op, "nosuchuser")]
        d, dm = rows[(f"dlopen/{n}", op, h)], rows[(f"dlopen/{n}", op, "nosuchuser")]
        f, fm = rows[(f"files/{n}", op, fh)], rows[(f"files/{n}", op, "nosuchuser")]
        print(f"| {n:,} | {op} | {us(j)} | {us(jm)} | {us(fj)} | {us(fjm)} | {us(d)} | {us(dm)} | {us(f)} | {us(fm)} | {f / j:,.0f}× | {f / fj:,.0f}× |")
print("\nCost the module adds to names it does not know (p50 µs; `daemon` is in the host's /etc/passwd, `nosuchuser` nowhere):\n")
print("| JIT users | call | `files` (host files) | `files jit` | added | module direct |")
print("|---|---|---|---|---|---|")
for n in sizes:
    for name in ["daemon", "nosuchuser"]:
        for op in ["getpwnam", "getpwuid", "initgroups"]:
            fh, fj = rows[("files-host", op, name)], rows[(f"files+jit/{n}", op, name)]
            d = rows[(f"dlopen/{n}", op, name)] if (f"dlopen/{n}", op, name) in rows else None
            print(f"| {n:,} | {op} {name} | {us(fh)} | {us(fj)} | {(fj - fh) / 1000:+.2f} | {'' if d is None else f'{d / 1000:.3f}'} |")
print("\nPublish (UserDb::publish, including fsync of state and snapshot):\n")
print("| run | result |")
print("|---|---|")
for kind, rest in publish:
    print(f"| {kind} | {rest} |")
