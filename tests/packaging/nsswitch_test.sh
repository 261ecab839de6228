#!/bin/bash
# jit-nsswitch (packaging/jit-nsswitch, run by libnss-jit's maintainer
# scripts) against real-world nsswitch.conf variants: what "add" makes of each
# passwd/group line, the message for a line it cannot edit safely, and that
# "remove" gives back the original file byte for byte.
#   nsswitch_test.sh PATH/TO/jit-nsswitch
set -uo pipefail
tool=$1
work=$(mktemp -d /tmp/jit-nsswitch-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# case NAME 'INPUT' 'EXPECTED AFTER add' ['EXPECTED MESSAGE (grep -E)']
case_() {
    local name=$1 input=$2 want=$3 want_msg=${4:-} f=$work/$1.conf
    printf '%s' "$input" > "$f"
    chmod 640 "$f"
    if ! "$tool" add "$f" 2> "$work/$name.err"; then fail "$name: add exited non-zero"; fi
    if [ "$(cat "$f")" != "$(printf '%s' "$want")" ]; then
        fail "$name: add gave:"; cat "$f"; echo "--- wanted:"; printf '%s\n' "$want"
    fi
    if [ -n "$want_msg" ]; then
        grep -Eq -- "$want_msg" "$work/$name.err" || { fail "$name: no message matching '$want_msg' (got: $(cat "$work/$name.err"))"; }
    elif [ -s "$work/$name.err" ]; then
        fail "$name: unexpected message: $(cat "$work/$name.err")"
    fi
    [ "$(stat -c %a "$f")" = 640 ] || fail "$name: mode changed to $(stat -c %a "$f")"
    local before; before=$(cat "$f")
    "$tool" add "$f" 2>/dev/null
    [ "$(cat "$f")" = "$before" ] || fail "$name: a second add changed the file"
    "$tool" remove "$f" || fail "$name: remove exited non-zero"
    # (a jit the file had before "add" is removed too: remove cannot know who wrote it)
    if [ "$input" != "$want" ]; then
        cmp -s "$f" <(printf '%s' "$input") || { fail "$name: remove did not restore the file byte for byte:"; diff <(printf '%s' "$input") "$f"; }
    fi
    echo "ok   $name"
}

case_ debian-bookworm \
'# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.

passwd:         files systemd
group:          files systemd
shadow:         files
gshadow:        files

hosts:          files dns
' \
'# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.

passwd:         files jit systemd
group:          files jit systemd
shadow:         files
gshadow:        files

hosts:          files dns
'

case_ compat 'passwd: compat
group: compat
shadow: compat
' 'passwd: compat jit
group: compat jit
shadow: compat
'

case_ sssd-first 'passwd:     sss files
group:      sss files
netgroup:   sss
' 'passwd:     sss files jit
group:      sss files jit
netgroup:   sss
'

case_ tabs-and-trailing-comment 'passwd:	files	sss	# directory users
group:	files sss
' 'passwd:	files jit	sss	# directory users
group:	files jit sss
'

case_ commented-lines 'passwd: files
#passwd: files ldap
 # group: files ldap
group: files ldap
' 'passwd: files jit
#passwd: files ldap
 # group: files ldap
group: files jit ldap
'

case_ files-with-merge-action 'passwd: files systemd
group: files [SUCCESS=merge] systemd
' 'passwd: files jit systemd
group: files [SUCCESS=merge] jit systemd
'

case_ already-jit 'passwd: files jit sss
group: files jit
' 'passwd: files jit sss
group: files jit
'

case_ no-trailing-newline 'passwd: files
group: files' 'passwd: files jit
group: files jit
'

case_ notfound-return 'passwd: files [NOTFOUND=return] ldap
group: files systemd
' 'passwd: files [NOTFOUND=return] ldap
group: files jit systemd
' "passwd line ends the lookup at \[NOTFOUND=return\].*add jit by hand"

case_ negated-return 'passwd: files [!UNAVAIL=return] ldap
group: files
' 'passwd: files [!UNAVAIL=return] ldap
group: files jit
' "passwd line ends the lookup at \[!UNAVAIL=return\]"

case_ no-files 'passwd: sss ldap
group: files
' 'passwd: sss ldap
group: files jit
' "passwd line names neither files nor compat"

case_ missing-group 'passwd: files
hosts: files dns
' 'passwd: files jit
hosts: files dns
' 'group line is missing.*"group: files jit"'

case_ duplicate-passwd 'passwd: files
passwd: files ldap
group: files
' 'passwd: files
passwd: files ldap
group: files jit
' "passwd line appears 2 times"

# check: 0 once both lines name jit, 1 otherwise
f=$work/check.conf
printf 'passwd: files\ngroup: files\n' > "$f"
"$tool" check "$f" && fail "check: said configured before add"
"$tool" add "$f" && "$tool" check "$f" || fail "check: said not configured after add"
"$tool" add "$work/does-not-exist" 2>"$work/nofile.err" || fail "add on a missing file exited non-zero"
grep -q "does not exist" "$work/nofile.err" || fail "add on a missing file said nothing"
"$tool" frobnicate "$f" 2>/dev/null; [ $? -eq 2 ] || fail "an unknown action does not exit 2"

[ $fails -eq 0 ] && echo "all nsswitch variants ok" || { echo "$fails failure(s)"; exit 1; }
