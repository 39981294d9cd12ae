#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# L4 health as the datapath sees it: a backend that answers, one that refuses (RST),
# and one that never answers (its replies are blackholed: clients repeat their SYNs).
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-hl$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start good refuse hole
# The third backend cannot reach the client: its SYN-ACKs die there.
ip -n "$LAB-b3" route add blackhole 10.200.0.0/24
l4s attach n0 --flows 65536 --xdp-mode generic >/dev/null
l4s service add svc $VIP4:81/tcp >/dev/null
l4s backend add svc "$(lab_be_addr 1):80" --track good >/dev/null
l4s backend add svc "$(lab_be_addr 2):81" --track refuse >/dev/null 2>&1 # nothing listens
l4s backend add svc "$(lab_be_addr 3):80" --track hole >/dev/null 2>&1
l4s weight svc good=1 refuse=1 hole=1 >/dev/null
out=$(lab_client "$TRAFFIC" tcp $VIP4 81 --count 24 --conn-timeout 2 --timeout 120)
echo "#   client: answered $(total_answers "$out"), reset $(tv "$out" reset), timeout $(tv "$out" timeout)"
st=$(l4s stats svc --json)
b() { jq ".services[0].backends[] | select(.track == \"$1\") | .$2" <<<"$st"; }
echo "#   good: flows $(b good flows) answered $(b good answered) resets $(b good resets) syn_retries $(b good syn_retries)"
echo "#   refuse: flows $(b refuse flows) answered $(b refuse answered) resets $(b refuse resets) syn_retries $(b refuse syn_retries)"
echo "#   hole: flows $(b hole flows) answered $(b hole answered) resets $(b hole resets) syn_retries $(b hole syn_retries)"
check "good backend: every flow answered, no reset, no SYN retry" \
	test "$(b good answered)" -eq "$(b good flows)" -a "$(b good resets)" -eq 0 -a "$(b good syn_retries)" -eq 0
check "refusing backend: a reset per flow, nothing answered" \
	test "$(b refuse resets)" -eq "$(b refuse flows)" -a "$(b refuse answered)" -eq 0
check "blackholed backend: SYNs repeated, nothing answered" \
	test "$(b hole syn_retries)" -ge "$(b hole flows)" -a "$(b hole answered)" -eq 0
check "counters match the client: resets seen = resets counted" eq "$(b refuse resets)" "$(tv "$out" reset)"
check "counters match the client: answers = good flows" eq "$(b good flows)" "$(total_answers "$out")"
finish
