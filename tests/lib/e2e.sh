#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Helpers for end-to-end tests: TAP-style "ok - ..." / "not ok - ..." lines that
# tests/run.sh counts. Source after scripts/lab.sh.

T_PASS=0
T_FAIL=0

ok() { echo "ok - $*"; T_PASS=$((T_PASS + 1)); }
not_ok() { echo "not ok - $*"; T_FAIL=$((T_FAIL + 1)); }
# check DESC CMD...: pass when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# Value of KEY in l4s-traffic output ("key value" lines), 0 when absent.
tv() { awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' <<<"$1"; }
total_answers() { awk '/^name:/ { s += $2 } END { print s + 0 }' <<<"$1"; }
# share_within OUTPUT NAME EXPECTED_PCT TOLERANCE_PP: the share of NAME in the answers.
share_within() {
	local out=$1 name=$2 exp=$3 tol=$4 n t
	n=$(tv "$out" "name:$name")
	t=$(total_answers "$out")
	awk -v n="$n" -v t="$t" -v e="$exp" -v tol="$tol" -v name="$name" 'BEGIN {
		p = t ? 100 * n / t : -1
		printf "#   %s: %.2f%% (%d of %d), expected %s +- %s pp\n", name, p, n, t, e, tol
		exit !(t > 0 && p >= e - tol && p <= e + tol)
	}'
}
# quiet CMD...: run CMD with its stdout discarded (for check).
quiet() { "$@" >/dev/null; }
eq() { [ "$1" = "$2" ] || { echo "#   expected \"$2\", got \"$1\""; return 1; }; }
# lab_traps: tear the lab down on exit, and exit on Ctrl-C / SIGTERM.
lab_traps() {
	trap lab_down EXIT
	trap 'exit 1' INT TERM
}
# lab_start [--bridge] NAME...: the lab (scripts/lab.sh) torn down on exit, whatever
# happens; ends the test when it cannot be set up. OLD and NEW are the addresses of
# the first two backends.
lab_start() {
	lab_traps
	lab_up "$@" || { not_ok "lab setup"; finish; exit 1; }
	OLD=$(lab_be_addr 1)
	NEW=$(lab_be_addr 2)
}
# wait_for FILE REGEX SECONDS: until FILE has a line matching REGEX (bounded).
wait_for() {
	local end=$((SECONDS + $3))
	until grep -qE "$2" "$1" 2>/dev/null; do
		[ $SECONDS -ge $end ] && { echo "#   waited $3 s for /$2/ in $1"; return 1; }
		sleep 0.05
	done
}
# wait_listen NETNS PORT SECONDS: until a TCP socket listens on PORT in NETNS.
wait_listen() {
	local end=$((SECONDS + $3))
	until [ -n "$(nsenter --net="/run/netns/$1" ss -Hltn "sport = :$2")" ]; do
		[ $SECONDS -ge $end ] && { echo "#   nothing listens on :$2 in $1"; return 1; }
		sleep 0.05
	done
}
finish() {
	echo "# $(basename "$0"): $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}

# lab_kubeconfig SERVER [TOKEN]: a kubeconfig for the API stand-in at SERVER (a
# bearer token as its user's credential when TOKEN is given), on stdout.
lab_kubeconfig() {
	printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: %s\n' "$1"
	if [ -n "${2:-}" ]; then
		printf 'users:\n- name: agent\n  user:\n    token: %s\n' "$2"
	else
		printf 'users:\n- name: agent\n  user: {}\n'
	fi
	printf 'contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: agent\ncurrent-context: lab\n'
}
