#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# What users read: error messages that quote other messages stay whole, untrusted text is
# escaped, --json errors are one parseable document, global options and help.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-ms$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_traps
mkdir -p "$LAB_ROOT"
ip netns add "$LAB-n" || { not_ok "netns setup"; finish; exit 1; }
ip -n "$LAB-n" link set lo up
ip -n "$LAB-n" link add d0 type veth peer name d1 && ip -n "$LAB-n" link set d0 up &&
	ip -n "$LAB-n" link set d1 up
# run ARGS...: l4split in the test's namespace with its pin directory; stdout+stderr.
run() { l4s "$@" 2>&1; }
# rc ARGS...: the exit code of l4split ARGS (output discarded).
rc() { l4s "$@" >/dev/null 2>&1; echo $?; }

# --- 21: a message that quotes a message below it stays whole ---------------------------
out=$(echo '{"services":[{"name":"a","vip":"rong"}]}' | run apply -)
check "apply: the path, then the reason below it, once, with its hint" eq "$out" \
	'Error: services[0].vip: frontend "rong" is wrong: expected VIP:PORT/tcp or VIP:PORT/udp
Hint: for example 10.96.0.10:80/tcp or [fd00::10]:53/udp'
out=$(echo '{"services":[{"name":"a","vip":"10.96.0.1:80/tcp","backends":[{"addr":"10.1.0.1:80","track":"b c"}]}]}' | run apply -)
check "apply: a backend's track, named once" eq "$out" \
	'Error: services[0].backends[0].track: track name "b c" is wrong: only letters, digits, '"'.', '-' and '_'"
out=$(echo '{"services":[{"name":"ä","vip":"10.96.0.1:80/tcp"}]}' | l4s --json apply - 2>/dev/null)
check "apply --json: a non-ASCII name is in the error" eq "$(jq -r .error <<<"$out")" \
	'services[0].name: service name "ä" is wrong: must start with a letter or digit'
out=$(l4s --json service add $'a\xff' 10.96.0.1:80/tcp 2>/dev/null)
check "--json: bytes that are not UTF-8 are shown escaped, not {}" eq "$(jq -r .error <<<"$out")" \
	'service name "a\xff" is wrong: only letters, digits, '"'.', '-' and '_'"

# --- 19: untrusted text is escaped where it is printed -----------------------------------
out=$(run service add $'x\033[31m\nError: forged' 10.96.0.1:80/tcp)
check "an argument's ESC and newline are shown escaped, on one line" eq "$out" \
	'Error: service name "x\e[31m\nError: forged" is wrong: only letters, digits, '"'.', '-' and '_'"
check "  and no raw ESC reaches the terminal" eq "$(printf %s "$out" | tr -d -c '\033' | wc -c)" 0

# --- 22: --json usage errors are one JSON document on stdout -----------------------------
for args in "" "apply" "attach" "detach" "service" "service add" "backend" "backend add" \
	"weight" "weight x" "node set" "node bogus" "sync" "sync x" "status a b" \
	"stats a b" "rollout" "agent --bogus" "bogus" "service bogus"; do
	# shellcheck disable=SC2086
	out=$(l4s --json $args 2>/dev/null)
	code=$(l4s --json $args >/dev/null 2>&1; echo $?)
	if jq -e 'has("error")' <<<"$out" >/dev/null 2>&1 && [ "$code" = 2 ]; then
		ok "--json $args: one JSON error, exit 2"
	else
		not_ok "--json $args: one JSON error, exit 2 (exit $code, stdout: $(head -c 80 <<<"$out"))"
	fi
done
check "human mode still shows the grammar on a usage error" \
	eq "$(l4s apply 2>/dev/null | head -1)" "Usage: l4split apply FILE|- [--prune] [--dry-run]"

# --- 26: options and help ----------------------------------------------------------------
check "help weight prints the weight help" eq "$(l4s help weight | head -1)" \
	"Usage: l4split weight NAME { TRACK=W | ADDR:PORT=W } ..."
check "--version --json is JSON" eq "$(l4s --version --json | jq -c 'keys')" '["layout","version"]'
check "--json --version is JSON" eq "$(l4s --json --version | jq -r .version)" \
	"$(l4s --version | awk '{print $2}')"
check "--pin-dir \"\" is a usage error" eq "$(L4SPLIT_PIN_DIR=$LAB_PIN rc --pin-dir "" status)" 2
out=$(run apply /nonexistent/l4s.json; echo "rc=$?")
check "apply of a missing file: what and why, exit 1" eq "$out" \
	"Error: /nonexistent/l4s.json: No such file or directory
rc=1"
out=$(run sync web --pods /nonexistent/pods.json --track a; echo "rc=$?")
check "sync of a missing file: what and why, exit 1" eq "$out" \
	"Error: /nonexistent/pods.json: No such file or directory
rc=1"

finish
