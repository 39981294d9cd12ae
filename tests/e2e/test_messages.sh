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

out=$(run s)
check "an ambiguous object names the candidates, with a hint" eq "$out" \
	'Error: object "s" is ambiguous: "service" or "status"
Hint: type more of its name'
check "--json with no object: the error has a hint" eq "$(l4s --json | jq -r .hint)" "'l4split help' shows the grammar"

# --- 26: options and help ----------------------------------------------------------------
check "help weight prints the weight help" eq "$(l4s help weight | head -1)" \
	"Usage: l4split weight NAME { TRACK=W | ADDR:PORT=W } ..."
check "--version --json is JSON" eq "$(l4s --version --json | jq -c 'keys')" '["commit","layout","libbpf","version"]'
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

# --- 26: status text -----------------------------------------------------------------------
l4s attach d0 >/dev/null 2>&1 || not_ok "attach d0"
l4s service add web 10.96.0.10:80/tcp --table-size 7 >/dev/null
l4s backend add web 10.1.0.1:80 --track old --weight 0.000001 >/dev/null
l4s backend add web 10.1.0.2:80 --track new >/dev/null 2>&1
l4s weight web old=1000000 new=0.000001 >/dev/null
out=$(l4s status web)
check "status: weights in plain decimals, never 1e+06 / 1e-06" eq \
	"$(grep -cE '(^|[^.0-9])(1000000|0\.000001)( |$)' <<<"$out") $(grep -c 'e[-+]0' <<<"$out")" "3 0"
out=$(l4s status web --table)
check "status NAME --table prints the table in text mode too" \
	eq "$(grep -cE '^  [0-6] +10\.1\.0\.[12]:80$' <<<"$out")" 7

# --- 24: --pin-dir ------------------------------------------------------------------------
mkdir -p "$LAB_ROOT/full" "$LAB_ROOT/empty"
echo keep >"$LAB_ROOT/full/keep"
out=$(l4s --pin-dir "$LAB_ROOT/full" service add a 10.96.0.11:80/tcp 2>&1; echo "rc=$?")
check "--pin-dir on a non-empty directory is refused" eq "$(head -1 <<<"$out") $(tail -1 <<<"$out")" \
	"Error: pin directory $LAB_ROOT/full is not a bpffs and not empty: mounting one there would hide its files rc=1"
check "  its files stay visible (nothing mounted over them)" \
	eq "$(cat "$LAB_ROOT/full/keep") $(findmnt -rn "$LAB_ROOT/full" | wc -l)" "keep 0"
l4s --pin-dir "$LAB_ROOT/empty" service add a 10.96.0.11:80/tcp >/dev/null 2>&1
check "--pin-dir on an empty directory: a bpffs is mounted there" eq "$(findmnt -rn -o FSTYPE "$LAB_ROOT/empty")" bpf
check "  detach --all --purge removes the state and the mount l4split made" \
	eq "$(rc --pin-dir "$LAB_ROOT/empty" detach --all --purge) $(findmnt -rn "$LAB_ROOT/empty" | wc -l)" "0 0"

# --- 23: an incomplete state can be repaired and torn down --------------------------------
rm "$LAB_PIN/l4s_tracks"
out=$(run status; echo "rc=$?")
check "one pinned map missing: status says which, and that attach repairs it" eq "$out" \
	"Error: cannot open pinned map $LAB_PIN/l4s_tracks: No such file or directory
Hint: the state looks incomplete; 'l4split attach DEV' recreates missing maps
rc=1"
out=$(run attach d0; echo "rc=$?")
check "  attach recreates it (and says so)" eq "$(grep -c 'recreated l4s_tracks' <<<"$out") $(tail -1 <<<"$out")" "1 rc=0"
check "  status works again" eq "$(rc status)" 0
rm "$LAB_PIN/l4s_attach" "$LAB_PIN/l4s_config"
check "two maps missing (the attachment records among them): detach --all --purge succeeds" \
	eq "$(rc detach --all --purge)" 0
check "  the programs are gone from d0" eq "$(ip -n "$LAB-n" -d link show d0 | grep -c 'prog/xdp')" 0
check "  and the pin directory holds no map" eq "$(find "$LAB_PIN" -name 'l4s_*' | wc -l)" 0

# --- 23 and 26: attachments in other namespaces are named; a deleted one is skipped -------
ip netns add "$LAB-x"
ip -n "$LAB-x" link add e0 type veth peer name e1 && ip -n "$LAB-x" link set e0 up && ip -n "$LAB-x" link set e1 up
l4s attach d0 >/dev/null 2>&1
L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-x" "$L4SPLIT" attach e0 >/dev/null 2>&1 ||
	not_ok "attach e0 in $LAB-x"
check "status names the other namespace" eq "$(l4s status | grep -c "e0 (xdp-native + tc-egress, other netns $LAB-x)")" 1
check "status --json names it too" eq "$(l4s status --json | jq -r '.attached[] | select(.dev == "e0") | .netns_name')" "$LAB-x"
out=$(run detach --all --purge; echo "rc=$?")
check "detach --all --purge names where l4split is still attached" \
	eq "$(head -1 <<<"$out") $(tail -1 <<<"$out")" \
	"Error: not purging: l4split is still attached in 1 other network namespace(s): e0 in netns $LAB-x rc=1"
l4s attach d0 >/dev/null 2>&1
ip netns del "$LAB-x"
out=$(run detach --all --purge; echo "rc=$?")
check "the namespace deleted: detach --all --purge skips it, says so, and purges" \
	eq "$(grep -c "skipped 1 attachment(s) whose network namespace is gone" <<<"$out") $(tail -1 <<<"$out")" "1 rc=0"
check "  the pin directory holds no map" eq "$(find "$LAB_PIN" -name 'l4s_*' | wc -l)" 0

# --- 25: status reads each lookup table through its mapping, not a syscall a slot ---------
jq -n '{services: [range(20) | {name: "s\(.)", vip: "10.96.1.\(. + 1):80/tcp", tracks: {old: 3, new: 1},
	backends: [{addr: "10.1.0.1:80", track: "old"}, {addr: "10.1.0.2:80", track: "new"}]}]}' |
	l4s apply - >/dev/null
calls=$(lab_node strace -f -c -e trace=bpf "$L4SPLIT" status 2>&1 >/dev/null | awk '$NF == "bpf" { print $4 }')
check "status of 20 services (16,381 slots each): fewer than 2,000 bpf calls (was 327,000+)" \
	test "${calls:-999999}" -lt 2000
echo "#   $calls bpf calls"
check "  slots still add up to the table, 3:1" \
	eq "$(l4s status s7 --json | jq -cS '[.services[0].backends[] | {(.track): .slots}] | add')" '{"new":4095,"old":12286}'

finish
