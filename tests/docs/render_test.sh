#!/bin/bash
# Renders man page sources with pandoc as the build does (cmake/Manpages.cmake)
# and formats each result with groff and man -l at 80 columns: any warning or
# error, or a wrong .TH line, fails the test.
#
#   render_test.sh PANDOC "PANDOC OPTIONS" PAGE.N.md...
# Exit 77 (skipped) when PANDOC is empty/missing or groff/man are not installed.
set -uo pipefail
pandoc=$1
read -r -a options <<<"$2"
shift 2
if [ -z "$pandoc" ] || [ ! -x "$pandoc" ]; then echo "SKIP: pandoc not installed"; exit 77; fi
for tool in groff man; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
work=$(mktemp -d /tmp/jit-manpages.XXXXXX)
trap 'rm -rf "$work"' EXIT
export LC_ALL=C.UTF-8 MANWIDTH=80
unset MAN_KEEP_FORMATTING MANPAGER PAGER
failed=0
for src in "$@"; do
  page=$(basename "$src" .md)          # jitctl.1
  name=${page%.*} section=${page##*.}  # jitctl 1
  out=$work/$page
  if ! "$pandoc" "${options[@]}" --output "$out" "$src" 2>"$work/err"; then
    echo "FAIL $src: pandoc failed:"; cat "$work/err"; failed=1; continue
  fi
  if [ -s "$work/err" ]; then echo "FAIL $src: pandoc warned:"; cat "$work/err"; failed=1; fi
  # The title block "% NAME(N) source | manual" must become .TH "NAME" "N".
  want=".TH \"${name^^}\" \"$section\""
  if ! grep -qF "$want" "$out"; then
    echo "FAIL $src: no '$want' line (title block '% ${name^^}($section) ...' missing or malformed)"; failed=1
  fi
  # groff: all warnings (-ww), tbl for tables (-t), no output (-z).
  if ! groff -man -Tutf8 -t -ww -z "$out" 2>"$work/err" || [ -s "$work/err" ]; then
    echo "FAIL $src: groff -man -ww reports:"; cat "$work/err"; failed=1
  fi
  # man -l as a reader would run it, with man-db's warnings on.
  if ! man --warnings -l "$out" >"$work/text" 2>"$work/err" || [ -s "$work/err" ]; then
    echo "FAIL $src: man -l reports:"; cat "$work/err"; failed=1
  fi
  # Options keep their ASCII hyphens (no "--json" turned into an en dash).
  if grep -n -- '–[A-Za-z]' "$work/text" >"$work/err"; then
    echo "FAIL $src: en dash where an option's -- was meant:"; cat "$work/err"; failed=1
  fi
  # Every section of the source made it into the page.
  while IFS= read -r heading; do
    if ! grep -qiF "${heading}" "$work/text"; then echo "FAIL $src: section '$heading' is not in the rendered page"; failed=1; fi
  done < <(sed -n 's/^# \(.*\)$/\1/p' "$src")
  [ $failed = 0 ] && echo "ok $src -> $page ($(wc -l <"$work/text") lines at 80 columns)"
done
exit $failed
