#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Two nodes (two pin directories) given the same backends and weights build the same
# lookup table, whatever order the backends were added in and whatever ids they got;
# 16 concurrent changes on one node end in a state equal to some serial order.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/e2e.sh
ROOT=/run/l4e-agree$$
L4SPLIT=${L4SPLIT:-$PWD/build/l4split}
cleanup() {
	local d
	for d in "$ROOT"/a "$ROOT"/b; do
		[ -e "$d/l4s_config" ] && L4SPLIT_PIN_DIR=$d "$L4SPLIT" detach --all --purge >/dev/null 2>&1
		mountpoint -q "$d" && umount "$d"
	done
	rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$ROOT"
node_a() { L4SPLIT_PIN_DIR=$ROOT/a "$L4SPLIT" "$@"; }
node_b() { L4SPLIT_PIN_DIR=$ROOT/b "$L4SPLIT" "$@"; }

node_a service add web 10.96.0.10:80/tcp --table-size 65521 >/dev/null
node_b service add other 10.96.0.99:80/tcp >/dev/null # shifts service ids on node b
node_b backend add other 10.9.9.9:80 >/dev/null       # and backend ids
node_b service add web 10.96.0.10:80/tcp --table-size 65521 >/dev/null
for i in $(seq 1 12); do
	node_a backend add web "10.1.0.$i:8080" --track "$([ $((i % 3)) = 0 ] && echo new || echo old)" >/dev/null 2>&1
done
for i in $(seq 12 -1 1); do
	node_b backend add web "10.1.0.$i:8080" --track "$([ $((i % 3)) = 0 ] && echo new || echo old)" >/dev/null 2>&1
done
node_a weight web old=97 new=3 10.1.0.5:8080=2 >/dev/null
node_b weight web new=3 10.1.0.5:8080=2 old=97 >/dev/null
ta=$(node_a --json status web --table | jq -c '.services[0].table')
tb=$(node_b --json status web --table | jq -c '.services[0].table')
check "node a has a full table" eq "$(jq 'length' <<<"$ta")" 65521
check "both nodes map every slot to the same backend" eq "$(md5sum <<<"$ta")" "$(md5sum <<<"$tb")"
ida=$(node_a --json status web | jq -c '[.services[0].backends[].id] | sort')
idb=$(node_b --json status web | jq -c '[.services[0].backends[].id] | sort')
check "even though the backend ids differ" test "$ida" != "$idb"

# 16 concurrent writers on node a: 8 weight changes and 8 backend adds.
pids=()
for i in $(seq 1 8); do
	node_a weight web "old=$i" "new=$((9 - i))" >/dev/null 2>&1 &
	pids+=($!)
	node_a backend add web "10.2.0.$i:8080" --track new >/dev/null 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
check "16 concurrent invocations all succeed" eq "$fails" 0
st=$(node_a --json status web --table)
check "no lost update: all 8 new backends are there" eq "$(jq '[.services[0].backends[] | select(.addr | startswith("10.2.0."))] | length' <<<"$st")" 8
w=$(jq -c '.services[0].tracks' <<<"$st")
check "final weights are one writer's whole change ($w)" \
	quiet jq -e '(.old + .new) == 9 and .old >= 1 and .old <= 8' <<<"$w"
# The live table equals a fresh rebuild from the final state (no torn table).
node_b service del web >/dev/null
node_b service add web 10.96.0.10:80/tcp --table-size 65521 >/dev/null
jq -r '.services[0].backends[] | "\(.addr) \(.track) \(.weight)"' <<<"$st" |
	while read -r addr track weight; do
		node_b backend add web "$addr" --track "$track" --weight "$weight" >/dev/null 2>&1
	done
node_b weight web "old=$(jq '.old' <<<"$w")" "new=$(jq '.new' <<<"$w")" >/dev/null
ta=$(jq -c '.services[0].table' <<<"$st")
tb=$(node_b --json status web --table | jq -c '.services[0].table')
check "the table after the race equals a serial rebuild of the final state" \
	eq "$(md5sum <<<"$ta")" "$(md5sum <<<"$tb")"
finish
