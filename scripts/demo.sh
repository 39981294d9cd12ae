#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The canary story on a netns lab: one old pod, one new pod, and the weight decides.
set -u
cd "$(dirname "$0")/.."
LAB=l4e-demo$$
. scripts/lab.sh
trap lab_down EXIT
trap 'exit 1' INT TERM

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "l4split $*"; l4s "$@" || exit 1; }
curl10() {
	local i
	printf '$ for x in {1..10}; do curl %s; done\n' "$VIP4"
	for i in $(seq 1 10); do
		lab_client "$TRAFFIC" tcp $VIP4 80 --count 1 | awk -F'[: ]' '/^name:/ { print $2 }'
	done | paste -sd' '
	lab_client "$TRAFFIC" tcp $VIP4 80 --count 1000 | awk '
		/^name:/ { split($1, a, ":"); n[a[2]] = $2; t += $2 }
		END { printf "over 1000 connections:"; for (k in n) printf "  %s %.1f%%", k, 100 * n[k] / t; print "" }'
}

say "Setting up the lab: client -> node (l4split on n0) -> 1 old pod + 1 new pod"
lab_up old new >/dev/null || { echo "lab setup failed" >&2; exit 1; }
OLD=$(lab_be_addr 1):80
NEW=$(lab_be_addr 2):80
run attach n0 --flows 65536
run service add nginx $VIP4:80/tcp
run backend add nginx "$OLD" --track old
run backend add nginx "$NEW" --track new 2>/dev/null

say "1 old pod + 1 new pod, equal weights: 50/50"
run weight nginx old=1 new=1
curl10
say "Still 1 pod each, but 1:3 by weight (replicas would need 1 old + 3 new)"
run weight nginx old=1 new=3
curl10
say "A 1% canary (replicas would need 99 old pods)"
run weight nginx old=99 new=1
curl10
say "All new"
run weight nginx old=0 new=1
curl10
run backend del nginx "$OLD"
say "What the node saw"
run status nginx
run stats nginx
say "Tearing the lab down"
