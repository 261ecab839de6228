#!/usr/bin/env python3
"""The man pages do not drift from what they document.

jitctl.1.md: every subcommand that `jitctl --help` lists (and the subcommands
of those, e.g. `bundle verify`) has its own `## ...` section, and every option
in a command's --help is named in that section; the global options of
`jitctl --help` are in the page.

jit-helperd.8.md: every option of `jit-helperd --help` is in the page.
helperd.conf.5.md: every key of the tables in docs/config.md (`section.key`)
is named in the page, and its SECTIONS AND KEYS names no `section.key` that
docs/config.md does not have.

    drift_test.py --jitctl BIN --jitctl-page MD --helperd BIN --helperd-page MD
                  --config-page MD --config-doc MD
Prints one line per problem and exits 1, or exits 0 with a summary.
"""
import argparse
import re
import subprocess
import sys

problems = []


def run_help(argv):
    r = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        problems.append(f"{' '.join(argv)} --help exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def help_block(text, title):
    """The lines of a CLI11 help block ('Subcommands:', 'Options:', ...)."""
    lines, inside = [], False
    for line in text.splitlines():
        if line == title:
            inside = True
            continue
        if inside:
            if line and not line.startswith(" "):
                break
            lines.append(line)
    return lines


def subcommands(text):
    """Names in the 'Subcommands:' block (an entry starts at column 2)."""
    return [m.group(1) for line in help_block(text, "Subcommands:") if (m := re.match(r"  (\S+)\s", line + " "))]


def long_options(text):
    """Every --long option in the 'Options:' block, except --help."""
    found = []
    for line in help_block(text, "Options:"):
        m = re.match(r"  (-\S+)", line)
        if not m:
            continue  # a continuation line of a description
        for opt in m.group(1).split(","):
            if opt.startswith("--") and opt != "--help":
                found.append(opt)
    return found


def sections(md):
    """'## heading' -> its text up to the next heading of level 1 or 2."""
    out, name, body = {}, None, []
    for line in md.splitlines():
        if re.match(r"#{1,2} ", line):
            if name is not None:
                out[name] = "\n".join(body)
            name = line.lstrip("#").strip() if line.startswith("## ") else None
            body = []
        elif name is not None:
            body.append(line)
    if name is not None:
        out[name] = "\n".join(body)
    return out


def named(option, text):
    """The option appears as a word (not as the prefix of a longer option)."""
    return re.search(re.escape(option) + r"(?![A-Za-z0-9-])", text) is not None


def check_jitctl(binary, page_path):
    page = open(page_path, encoding="utf-8").read()
    secs = sections(page)
    top = run_help([binary])
    commands = subcommands(top)
    if not commands:
        problems.append(f"{binary} --help lists no subcommands (format changed?)")
    for opt in long_options(top):
        if not named(opt, page):
            problems.append(f"{page_path}: global option {opt} (jitctl --help) is not documented")
    checked = 0
    todo = [[c] for c in commands]
    while todo:
        words = todo.pop(0)
        text = run_help([binary] + words)
        nested = subcommands(text)
        todo += [words + [n] for n in nested]
        if nested:
            continue  # a command group (bundle): its subcommands are the pages' sections
        # The section is '## WORDS' optionally followed by its positionals ('## check USER').
        title = " ".join(words)
        match = [body for name, body in secs.items() if name == title or name.startswith(title + " ")]
        if not match:
            problems.append(f"{page_path}: subcommand '{title}' (jitctl --help) has no '## {title}' section")
            continue
        checked += 1
        for opt in long_options(text):
            if not named(opt, match[0]):
                problems.append(f"{page_path}: option {opt} of 'jitctl {title}' is not in its section")
    return checked


def check_helperd(binary, page_path):
    page = open(page_path, encoding="utf-8").read()
    for opt in long_options(run_help([binary])):
        if not named(opt, page):
            problems.append(f"{page_path}: option {opt} (jit-helperd --help) is not documented")


def check_config_page(page_path, config_doc):
    page = open(page_path, encoding="utf-8").read()
    doc = open(config_doc, encoding="utf-8").read()
    keys = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", doc, flags=re.M)
    if not keys:
        problems.append(f"{config_doc}: no '| `section.key` |' table rows found (format changed?)")
    for key in keys:
        if f"`{key}`" not in page:
            problems.append(f"{page_path}: config key {key} ({config_doc}) is not in the page")
    # The page's SECTIONS AND KEYS names no key that does not exist.
    m = re.search(r"^# SECTIONS AND KEYS\n(.*?)(?=^# )", page, flags=re.M | re.S)
    if not m:
        problems.append(f"{page_path}: no '# SECTIONS AND KEYS' section")
    for key in set(re.findall(r"`([a-z]+\.[a-z_]+)`", m.group(1) if m else "")):
        if key not in keys:
            problems.append(f"{page_path}: names config key {key}, which {config_doc} does not have")
    return len(keys)


def main():
    p = argparse.ArgumentParser()
    for a in ("--jitctl", "--jitctl-page", "--helperd", "--helperd-page", "--config-page", "--config-doc"):
        p.add_argument(a, required=True)
    a = p.parse_args()
    n_cmds = check_jitctl(a.jitctl, a.jitctl_page)
    check_helperd(a.helperd, a.helperd_page)
    n_keys = check_config_page(a.config_page, a.config_doc)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    print(f"ok: {n_cmds} jitctl commands with their options, jit-helperd options, {n_keys} config keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
