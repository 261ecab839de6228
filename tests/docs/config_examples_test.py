#!/usr/bin/env python3
"""Every jit-helperd configuration example in the docs is a valid config.

Examples: fenced ```ini blocks and indented blocks that start with a
[section] header (at any indentation, as in a list item) in README.md,
docs/*.md and the man page sources (*/*.[1-8].md), and
packaging/*.conf.example files. Each is checked with
`jit-helperd --check-config`, as written, except that the values of keys
naming files that must exist on this machine (trusted_keys_dir, token_file,
ca_file, client_cert, client_key) point at files this test makes. Fails when
an example is refused, or when fewer examples than --min are found (a moved
page must not make this test pass by finding nothing).
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile

FILE_KEYS = ("trusted_keys_dir", "token_file", "ca_file", "client_cert", "client_key")


def examples_in_markdown(path):
    text = path.read_text(encoding="utf-8")
    for m in re.finditer(r"^```ini\n(.*?)^```", text, re.S | re.M):
        yield f"{path}:{text[:m.start()].count(chr(10)) + 1}", m.group(1)
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^( {4,})\[[a-z_]+\]\s*$", lines[i])
        if m:
            indent = m.group(1)
            start = i
            block = []
            while i < len(lines) and (lines[i].startswith(indent) or lines[i].strip() == ""):
                block.append(lines[i][len(indent):])
                i += 1
            yield f"{path}:{start + 1}", "\n".join(block).strip("\n") + "\n"
        i += 1


def make_files(tmp):
    keys = tmp / "keys"
    keys.mkdir()
    key = tmp / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pub = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], check=True, capture_output=True).stdout
    (keys / "example-key.pub").write_bytes(pub)
    os.chmod(keys / "example-key.pub", 0o644)
    token = tmp / "token"
    token.write_text("example-token\n")
    os.chmod(token, 0o600)
    cert = tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", str(key), "-subj", "/CN=example", "-days", "1",
                    "-out", str(cert)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o600)
    return {"trusted_keys_dir": keys, "token_file": token, "ca_file": cert, "client_cert": cert, "client_key": key}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--helperd", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--min", type=int, default=3)
    args = ap.parse_args()
    src = pathlib.Path(args.source)
    found = []
    pages = [src / "README.md"] + list((src / "docs").glob("*.md")) + \
        [p for p in src.glob("*/*.md") if re.search(r"\.[1-8]\.md$", p.name)]
    for md in sorted(pages):
        found.extend(examples_in_markdown(md))
    for conf in sorted((src / "packaging").glob("*.conf.example")):
        found.append((str(conf), conf.read_text(encoding="utf-8")))
    failures = []
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        files = make_files(tmp)
        for n, (where, text) in enumerate(found):
            conf = []
            for line in text.split("\n"):
                # Only the path is replaced: whatever follows it (e.g. a
                # comment after the value, which the parser refuses) stays.
                m = re.match(r"^(\s*([a-z_]+)\s*=\s*)(\S+)(.*)$", line)
                if m and m.group(2) in FILE_KEYS:
                    line = f"{m.group(1)}{files[m.group(2)]}{m.group(4)}"
                conf.append(line)
            path = tmp / f"example-{n}.conf"
            path.write_text("\n".join(conf))
            r = subprocess.run([args.helperd, "--check-config", "--config", str(path)], capture_output=True, text=True)
            status = "OK" if r.returncode == 0 else f"REFUSED (exit {r.returncode})"
            print(f"{where}: {status}")
            if r.returncode != 0:
                failures.append(f"{where}:\n{text}\n{r.stderr}")
    if len(found) < args.min:
        print(f"only {len(found)} configuration examples found, expected at least {args.min}", file=sys.stderr)
        return 1
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
