#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The man page (make man: docs/gen-man.sh, help2man) says what `l4split help` says: the
# page rendered by man(1) has one subsection per object the grammar lists, each the very
# text of `l4split help OBJECT`; the grammar section is `l4split help`; every way of
# asking for an object's help prints the same; the grammar names the options each
# object's help does; an object added to the grammar joins the page by itself.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/e2e.sh
BUILD=${BUILD:-build}
L4SPLIT=${L4SPLIT:-$BUILD/l4split}
PAGE=$BUILD/l4split.8
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check "the page is built ($PAGE)" test -s "$PAGE"
export LC_ALL=C.UTF-8 MANWIDTH=100
man --warnings -l "$PAGE" >"$tmp/page.txt" 2>"$tmp/warn.txt"
check "man -l renders it, without troff warnings" eq "$?:$(cat "$tmp/warn.txt")" "0:"
mapfile -t objects < <("$L4SPLIT" help | sed -n 's/^\(Usage:\)\{0,1\} *l4split \([a-z][a-z-]*\).*/\2/p' | awk '!seen[$0]++')
check "'l4split help' lists the objects (${#objects[@]}: ${objects[*]})" test "${#objects[@]}" -ge 12

# section TITLE LEVEL: the text of the rendered subsection TITLE (LEVEL sh: a section),
# its indentation removed, trailing blank lines dropped.
section() {
	"$PY" - "$tmp/page.txt" "$1" "${2:-ss}" <<'PYEOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
title, level = sys.argv[2], sys.argv[3]
head = title if level == "sh" else "   " + title
out, inside = [], False
for l in lines:
    if not inside:
        inside = l.rstrip() == head
        continue
    if l.strip() and not l.startswith("       "):
        break
    out.append(l[7:])
while out and not out[-1].strip():
    out.pop()
sys.stdout.write("\n".join(out))
PYEOF
}

check "the Grammar section is 'l4split help'" eq "$(section Grammar)" "$("$L4SPLIT" help)"
for o in "${objects[@]}"; do
	h=$("$L4SPLIT" help "$o")
	check "help $o: exit 0" quiet "$L4SPLIT" help "$o"
	check "help $o: begins with its usage" eq "$(head -1 <<<"$h" | awk '{ print $1, $2, $3 }')" \
		"Usage: l4split $o"
	check "the man page's section '$o' is 'l4split help $o'" eq "$(section "$o")" "$h"
	for form in "$o help" "$o --help" "$o -h" "--json help $o"; do
		# shellcheck disable=SC2086
		check "'l4split $form' prints the same as 'l4split help $o'" eq "$("$L4SPLIT" $form)" "$h"
	done
done
titles=$(sed -n '/^COMMANDS$/,/^[A-Z]/{s/^   \([a-z][a-z-]*\)$/\1/p}' "$tmp/page.txt" | tr '\n' ' ')
check "COMMANDS has exactly the listed objects, in order" eq "$titles" "${objects[*]} "

# The grammar of 'l4split help' and each object's usage lines name the same options.
check "every object's options are in the grammar, and no others" "$PY" - "$L4SPLIT" "${objects[@]}" <<'PYEOF'
import re, subprocess, sys
bin, objs = sys.argv[1], sys.argv[2:]
def opts(text):
    return set(re.findall(r"--[a-z][a-z-]*", text))
grammar, cur = {}, None
for l in subprocess.run([bin, "help"], capture_output=True, text=True).stdout.splitlines():
    m = re.match(r"^(?:Usage:)? *l4split ([a-z][a-z-]*)(.*)", l)
    if m:
        cur = m.group(1)
        grammar.setdefault(cur, set()).update(opts(m.group(2)))
    elif cur and l.startswith("        ") and l.strip():
        grammar[cur].update(opts(l))
    else:
        cur = None
bad = 0
for o in objs:
    usage = []
    for l in subprocess.run([bin, "help", o], capture_output=True, text=True).stdout.splitlines():
        if not (l.startswith("Usage:") or (usage and l.startswith("       "))):
            break
        usage.append(l)
    u = opts("\n".join(usage))
    if u != grammar.get(o, set()):
        print("#   %s: only in 'l4split help': %s; only in 'l4split help %s': %s"
              % (o, sorted(grammar.get(o, set()) - u), o, sorted(u - grammar.get(o, set()))))
        bad = 1
sys.exit(bad)
PYEOF

# A command added to the grammar (as `explain` is being) joins the page with no other change.
cat >"$tmp/fake" <<'FAKE'
#!/bin/sh
case "$*" in
--version) echo "l4split 9.9" ;;
"help explain") printf 'Usage: l4split explain NAME CLIENT:PORT\n  Why a flow gets its backend.\n' ;;
"help weight") printf 'Usage: l4split weight NAME TRACK=W\n' ;;
*) printf 'Usage: l4split [OPTIONS] OBJECT\n       l4split weight NAME TRACK=W\n       l4split explain NAME CLIENT:PORT\n' ;;
esac
FAKE
chmod +x "$tmp/fake"
docs/gen-man.sh "$tmp/fake" docs/l4split.h2m "$tmp/fake.8" 2>"$tmp/gen.err"
check "gen-man.sh makes a page for a grammar with a new object" eq "$?:$(cat "$tmp/gen.err")" "0:"
man -l "$tmp/fake.8" >"$tmp/page.txt" 2>/dev/null
check "... whose section 'explain' is that object's help" eq "$(section explain)" \
	"Usage: l4split explain NAME CLIENT:PORT
  Why a flow gets its backend."
finish
