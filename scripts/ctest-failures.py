#!/usr/bin/python3
"""Prints, after a failed ctest run, each failed test's failing lines once more.

The whole output of a long run is rarely read to its middle, and a CI log
shown in part may cut it: this puts what failed at the end.
    ctest-failures.py BUILD_DIR [MAX_LINES_PER_TEST]
"""
import pathlib
import re
import sys

build = pathlib.Path(sys.argv[1])
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 25
log = build / "Testing" / "Temporary" / "LastTest.log"
try:
    text = log.read_text(errors="replace")
except OSError as e:
    sys.exit(f"ctest-failures: {log}: {e.strerror}")

# A test's section: "N/M Testing: NAME" ... "Output:" ... "<end of output>" ... "Test Failed."
FAILING = re.compile(r"\bFAIL(ED)?\b|\[  FAILED  \]|Failure|error:|ERROR|Assertion|Traceback|"
                     r"AddressSanitizer|runtime error|timed out|Timeout", re.IGNORECASE)
sections = re.split(r"^\d+/\d+ Testing: ", text, flags=re.M)[1:]
failed = 0
for sec in sections:
    name = sec.split("\n", 1)[0].strip()
    if "\nTest Failed." not in sec:
        continue
    out = sec.split("Output:\n", 1)[-1].split("<end of output>", 1)[0]
    lines = [l for l in out.splitlines() if FAILING.search(l) and "PASS" not in l]
    failed += 1
    print(f"--- {name}: {len(lines)} failing line(s)" + (f", the first {limit}" if len(lines) > limit else ""))
    for l in lines[:limit]:
        print("    " + l.rstrip()[:300])
    if not lines:
        print("    (no line says FAIL; the tail:)")
        for l in out.rstrip().splitlines()[-8:]:
            print("    " + l.rstrip()[:300])
print(f"ctest-failures: {failed} failed test(s) in {log}")
