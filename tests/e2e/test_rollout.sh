#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Progressive rollout under real client load: a healthy track reaches 100% with every
# step's observed share near its weight; a track that resets every connection and one
# that never answers are rolled back by themselves (exit 3, starting weights back);
# Ctrl-C/SIGTERM leaves the last completed step; stats --watch shows the live split.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-ro$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old new hole
# The third backend cannot reach the client: its SYN-ACKs die there.
ip -n "$LAB-b3" route add blackhole 10.200.0.0/24
HOLE=$(lab_be_addr 3)
l4s attach n0 --flows 262144 >/dev/null
# One service per scenario: counters stay apart.
l4s service add web $VIP4:80/tcp >/dev/null
l4s service add rst $VIP4:81/tcp >/dev/null
l4s service add bh $VIP4:82/tcp >/dev/null
for s in web rst bh; do l4s backend add $s "$OLD:80" --track old >/dev/null; done
l4s backend add web "$NEW:80" --track new >/dev/null 2>&1
l4s backend add rst "$NEW:81" --track new >/dev/null 2>&1 # nothing listens: RST
l4s backend add bh "$HOLE:80" --track new >/dev/null 2>&1

# load_start PORT: 6 clients, 100 connections/s each, for at most 60 s. (nsenter execs
# the client: $! is its own PID, and SIGTERM makes it print its counts.)
LOAD=()
load_start() {
	local i
	for i in 1 2 3 4 5 6; do
		nsenter --net="/run/netns/$LAB-c" "$TRAFFIC" tcp $VIP4 "$1" --count 1000000 --rate 100 \
			--timeout 60 --conn-timeout 0.5 >"$LAB_ROOT/load.$1.$i" &
		LOAD+=($!)
		LAB_PIDS+=($!)
	done
}
load_stop() {
	kill -TERM "${LOAD[@]}" 2>/dev/null
	wait "${LOAD[@]}" 2>/dev/null
	LOAD=()
}
# load_sum PORT KEY: KEY summed over the clients of PORT.
load_sum() { cat "$LAB_ROOT"/load."$1".* | awk -v k="$2" '$1 == k { s += $2 } END { print s + 0 }'; }
# ev EVENTS N FIELD: FIELD of the Nth JSON event (0-based).
ev() { sed -n "$(($2 + 1))p" <<<"$1" | jq -r ".$3"; }
within() { awk -v v="$1" -v e="$2" -v t="$3" 'BEGIN { exit !(v >= e - t && v <= e + t) }'; }
tracks() { l4s status "$1" --json | jq -cS '.services[0].tracks'; }
# l4s_bg ARGS...: l4split in the background, $! its own PID.
l4s_bg() { L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" "$@" & }

# --- A healthy new track goes all the way ---------------------------------------
load_start 80
ev_a=$(l4s -j rollout web --to new --steps 10,50,100 --interval 2s --min-flows 30)
rc=$?
# A "waiting" event (too few flows yet to judge) may come when the load starts slowly on a
# loaded machine; the checks below are about the steps, their order and their shares.
ev_a=$(jq -c 'select(.event != "waiting")' <<<"$ev_a")
check "healthy rollout exits 0" eq "$rc" 0
check "three steps and done" eq "$(jq -r .event <<<"$ev_a" | tr '\n' ' ')" "step step step done "
for i in 0 1 2; do
	w=$(ev "$ev_a" $i weight_percent)
	s=$(ev "$ev_a" $i observed_share_percent)
	echo "#   step $((i + 1)): weight ${w}%, observed ${s}% of $(($(ev "$ev_a" $i flows) + $(ev "$ev_a" $i other_flows))) flows, failed $(ev "$ev_a" $i failure_ratio)"
	check "step $((i + 1)): observed share ${s}% within 5 pp of ${w}%" within "$s" "$w" 5
	check "step $((i + 1)): no failed flow" eq "$(ev "$ev_a" $i failed)" 0
done
check "weights after the rollout: new=100 old=0" eq "$(tracks web)" '{"new":100,"old":0}'
check "--status shows it done" eq "$(l4s -j rollout web --status | jq -r .rollout.state)" done
l4s weight web old=3 new=1 >/dev/null
watch=$(l4s -j stats web --watch 1 --count 2)
check "stats --watch --count 2 prints two frames" eq "$(wc -l <<<"$watch")" 2
seen=$(tail -1 <<<"$watch" | jq .tracks.new.observed_share_percent)
echo "#   watch: new configured $(tail -1 <<<"$watch" | jq .tracks.new.weight_share_percent)%, seen ${seen}% of $(tail -1 <<<"$watch" | jq .flows) flows"
check "stats --watch: new seen at 25% +- 7 with old=3 new=1" within "$seen" 25 7
check "stats --watch: configured share of new is 25%" eq "$(tail -1 <<<"$watch" | jq .tracks.new.weight_share_percent)" 25
txt=$(l4s stats web --watch 500ms --count 1)
check "stats --watch (not a terminal): a table with tracks and backends" \
	grep -qE "^  new +25\.00%" <<<"$txt"
# On a terminal the view is redrawn in place (clear screen, then the table).
tty_out=$(L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" script -qec \
	"$L4SPLIT stats web --watch 500ms --count 2" /dev/null)
check "stats --watch on a terminal: redrawn in place, twice" \
	test "$(grep -o $'\033\[H\033\[2J' <<<"$tty_out" | wc -l)" -eq 2
load_stop
check "clients of the healthy rollout made connections" test "$(load_sum 80 attempted)" -gt 1000
check "clients of the healthy rollout: 0 failed connections" eq "$(load_sum 80 failed)" 0

# --- A track that resets every connection is rolled back ---------------------------
l4s weight rst old=1 new=0 >/dev/null
load_start 81
ev_b=$(l4s -j rollout rst --to new --steps 10,50,100 --interval 10s --min-flows 20)
rc=$?
check "resetting track: exit code 3" eq "$rc" 3
check "resetting track: one step begun, then rollback" eq "$(jq -r .event <<<"$ev_b" | tr '\n' ' ')" "rollback "
echo "#   rollback after $(ev "$ev_b" 0 elapsed_ms) ms: $(ev "$ev_b" 0 reason)"
check "resetting track: rolled back before the 10 s step ended" test "$(ev "$ev_b" 0 elapsed_ms)" -lt 10000
check "resetting track: starting weights restored" eq "$(tracks rst)" '{"new":0,"old":1}'
check "--status says rolled back" eq "$(l4s -j rollout rst --status | jq -r .rollout.state)" rolled-back
sleep 0.5
load_stop
st=$(l4s stats rst --json)
resets=$(jq '.services[0].backends[] | select(.track == "new") | .resets' <<<"$st")
echo "#   resets: clients saw $(load_sum 81 reset), the datapath counted $resets"
check "reset counter matches the clients (within 1%)" \
	within "$resets" "$(load_sum 81 reset)" "$(awk -v r="$resets" 'BEGIN { t = r / 100; print t < 3 ? 3 : t }')"

# --- A track that never answers is rolled back ------------------------------------
l4s weight bh old=1 new=0 >/dev/null
load_start 82
ev_c=$(l4s -j rollout bh --to new --steps 10,50,100 --interval 10s --min-flows 20)
rc=$?
check "blackholed track: exit code 3" eq "$rc" 3
echo "#   rollback after $(ev "$ev_c" 0 elapsed_ms) ms: $(ev "$ev_c" 0 reason)"
check "blackholed track: rolled back before the 10 s step ended" test "$(ev "$ev_c" 0 elapsed_ms)" -lt 10000
check "blackholed track: starting weights restored" eq "$(tracks bh)" '{"new":0,"old":1}'
sleep 1.5 # the last unanswered connections give up (1 s)
load_stop
st=$(l4s stats bh --json)
flows=$(jq '.services[0].backends[] | select(.track == "new") | .flows' <<<"$st")
answered=$(jq '.services[0].backends[] | select(.track == "new") | .answered' <<<"$st")
echo "#   blackholed flows: clients timed out $(load_sum 82 timeout), the datapath counted $flows (answered $answered)"
check "unanswered flows match the clients' timeouts (within 1%)" \
	within "$flows" "$(load_sum 82 timeout)" "$(awk -v r="$flows" 'BEGIN { t = r / 100; print t < 3 ? 3 : t }')"
check "no blackholed flow counted as answered" eq "$answered" 0

# --- SIGTERM keeps the last completed step; --rollback-on-abort restores ------------
l4s weight web old=1 new=0 >/dev/null
load_start 80
# wait_step N: until --status shows a running rollout at step N or later (bounded).
wait_step() {
	local t=0
	until [ "$(l4s -j rollout web --status | jq -r '(.rollout.state == "running" and .rollout.step >= '"$1"')')" = true ]; do
		[ $t -ge 100 ] && { echo "#   no running rollout reached step $1"; return 1; }
		sleep 0.05
		t=$((t + 1))
	done
}
l4s_bg -j rollout web --to new --steps 10,20,30,40,50,60,70,80,90 --interval 1s --min-flows 1 \
	>"$LAB_ROOT/abort.out"
ro=$!
check "--status from another shell: running, past step 1" wait_step 2
check "--status names the driving process" eq "$(l4s -j rollout web --status | jq -r .rollout.pid)" "$ro"
out=$(l4s rollout web --to new --steps 50 2>&1)
check "a second rollout of the same service is refused (exit 1)" eq "$?" 1
check "the refusal names the one in progress" grep -q "in progress (pid $ro" <<<"$out"
kill -TERM $ro
wait $ro
check "SIGTERM: exit code 143" eq "$?" 143
n=$(jq -r 'select(.event == "aborted") | .step' "$LAB_ROOT/abort.out")
done_pct=$(((n - 1) * 10))
echo "#   interrupted during step $n: expect new=$done_pct"
check "SIGTERM: the weights of the last completed step (new=$done_pct)" \
	eq "$(tracks web)" "{\"new\":$done_pct,\"old\":$((100 - done_pct))}"
check "--status says aborted" eq "$(l4s -j rollout web --status | jq -r .rollout.state)" aborted
start_w=$(tracks web)
l4s_bg -j rollout web --to new --steps 95,96,97,98,99 --interval 1s --min-flows 1 \
	--rollback-on-abort >"$LAB_ROOT/abort2.out"
ro=$!
wait_step 2 >/dev/null
kill -INT $ro
wait $ro
check "SIGINT with --rollback-on-abort: exit code 130" eq "$?" 130
check "--rollback-on-abort: starting weights restored after completed steps" eq "$(tracks web)" "$start_w"
load_stop
check "clients during the interrupted rollouts made connections" test "$(load_sum 80 attempted)" -gt 1000
check "clients during the interrupted rollouts: 0 failed connections" eq "$(load_sum 80 failed)" 0

# --- A rollout follows one service: deleted and made again, it is another service ------
l4s service add idn $VIP4:83/tcp >/dev/null
l4s backend add idn "$OLD:80" --track old >/dev/null
l4s backend add idn "$NEW:80" --track new >/dev/null 2>&1
l4s_bg -j rollout idn --to new --steps 10,20,30,40,50,60,70,80,90 --interval 1s --min-flows 0 \
	>"$LAB_ROOT/idn.out" 2>"$LAB_ROOT/idn.err"
ro=$!
t=0
until [ "$(l4s -j rollout idn --status | jq -r '.rollout.step >= 1')" = true ] || [ $t -ge 100 ]; do
	sleep 0.05
	t=$((t + 1))
done
l4s service del idn >/dev/null
l4s service add idn $VIP4:83/tcp >/dev/null
l4s backend add idn "$OLD:80" --track old >/dev/null
l4s backend add idn "$NEW:80" --track new >/dev/null 2>&1
idn_w=$(tracks idn)
t=0
while kill -0 $ro 2>/dev/null && [ $t -lt 100 ]; do sleep 0.05; t=$((t + 1)); done
kill -0 $ro 2>/dev/null && kill -TERM $ro
wait $ro
check "a rollout whose service was deleted and made again stops (exit 1)" eq "$?" 1
check "... saying so" grep -q "deleted or made again" "$LAB_ROOT/idn.out" "$LAB_ROOT/idn.err"
# The run has ended (waited for above): the weights now are all it ever wrote.
check "... and never drives the new service of the same name (weights as made)" \
	eq "$(tracks idn)" "$idn_w"
check "... which has no rollout of its own" eq "$(l4s -j rollout idn --status | jq -r '.rollout.state // "none"')" none
l4s service del idn >/dev/null

# --- Bad input changes nothing --------------------------------------------------
before=$(l4s status --json)
out=$(l4s rollout web --to nosuch 2>&1)
check "unknown track: exit 1" eq "$?" 1
check "unknown track: says which tracks exist" grep -q 'no track "nosuch"' <<<"$out"
out=$(l4s rollout web --to new --steps 50,10 2>&1)
check "decreasing steps: exit 2" eq "$?" 2
check "decreasing steps: says why" grep -q "larger than the one before" <<<"$out"
out=$(l4s rollout web --to new --interval 0s 2>&1)
check "zero interval: exit 2" eq "$?" 2
out=$(l4s rollout web --to new --max-failure-ratio 2 2>&1)
check "failure ratio above 1: exit 2" eq "$?" 2
l4s weight web old=0 new=1 >/dev/null
out=$(l4s rollout web --to new --steps 10,100 2>&1)
check "other tracks at weight 0: exit 1, nothing to split against" grep -q "nothing to take the rest" <<<"$out"
l4s weight web "$(echo "$start_w" | jq -r '"old=\(.old)"')" "$(echo "$start_w" | jq -r '"new=\(.new)"')" >/dev/null
check "state unchanged by the rejected rollouts" eq "$(l4s status --json)" "$before"
finish
