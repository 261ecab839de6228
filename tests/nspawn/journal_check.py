#!/usr/bin/python3
"""Asserts on `journalctl -o json` output (one JSON object per line on stdin).

    journal_check.py FIELD[=VALUE] ...

Exits 0 and prints the first entry that has every FIELD (with exactly VALUE
where given); otherwise exits 1 and says what the entries lacked. Used by the
nspawn test bed (tests/nspawn/flow.sh) to check jitlogin's audit events.
"""
import json
import sys

SHOWN = ("JIT_EVENT", "JIT_USER", "JIT_GRANT_ID", "JIT_SESSION_ID", "JIT_HOW", "JIT_DECISION",
         "JIT_REASON", "JIT_SERVICE")


def text(value):
    # journalctl gives non-UTF-8 or binary values as arrays of byte values
    if isinstance(value, list):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def main(argv):
    wanted = []
    for arg in argv[1:]:
        name, sep, value = arg.partition("=")
        wanted.append((name, value if sep else None))
    entries = []
    for line in sys.stdin:
        line = line.strip()
        if line:
            try:
                entries.append(json.loads(line))
            except ValueError:
                print(f"journal_check: not JSON: {line[:120]}", file=sys.stderr)
                return 2
    problems = []
    for entry in entries:
        missing = []
        for name, value in wanted:
            if name not in entry:
                missing.append(f"no {name}")
            elif value is not None and text(entry[name]) != value:
                missing.append(f"{name}={text(entry[name])!r} (want {value!r})")
        if not missing:
            print("     " + " ".join(f"{k}={text(entry[k])}" for k in SHOWN if k in entry))
            print(f"     MESSAGE={text(entry.get('MESSAGE', ''))}")
            return 0
        problems.append(", ".join(missing))
    if not entries:
        print("     no matching journal entry at all", file=sys.stderr)
    for p in problems[:3]:
        print(f"     entry lacks: {p}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
