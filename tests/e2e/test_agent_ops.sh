#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The agent as the DaemonSet runs it: usage errors exit 2 before anything is read,
# /metrics is valid text exposition (every family declared once, its samples together),
# /healthz answers while 1,200 slow-loris connections are open (the liveness probe
# must not restart the agent), and SIGTERM ends it within 1 s (the pod's grace period
# is 10 s) whether a watch is open, the API server hangs, or it is down.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-ao$$
. scripts/lab.sh
. tests/lib/e2e.sh

APISERVER=tests/tools/k8s-apiserver.py
IDLE=tests/tools/idle-conns.py
PY=/usr/bin/python3
MPORT=9477
lab_start old

node() { nsenter --net="/run/netns/$LAB-n" "$@"; }
kubeconfig() { lab_kubeconfig "$1" t0ken; } # SERVER
# agent_start KUBECONFIG METRICS_ADDR LOG: with the soft file limit a container gets
# by default (1024), as in a pod.
agent_start() {
	(ulimit -Sn 1024 && L4SPLIT_PIN_DIR=$LAB_PIN exec nsenter --net="/run/netns/$LAB-n" \
		"$L4SPLIT" agent --kubeconfig "$1" --node-name lab-node --metrics-addr "$2") 2>>"$3" &
	AGENT_PID=$!
	LAB_PIDS+=($!)
}
# stop_agent: SIGTERM to the agent; STOP_MS gets the milliseconds until it exited
# ("timeout" after 15 s, then it is killed), STOP_RC its exit code.
stop_agent() {
	local t0 t
	t0=$(date +%s%N)
	kill -TERM "$AGENT_PID"
	STOP_MS=timeout
	STOP_RC=killed
	while :; do
		t=$((($(date +%s%N) - t0) / 1000000))
		# exited: a zombie (still our child) or gone
		case $(awk '{ print $3 }' "/proc/$AGENT_PID/stat" 2>/dev/null) in
		Z | "") STOP_MS=$t && break ;;
		esac
		[ $t -ge 15000 ] && { kill -KILL "$AGENT_PID"; break; }
		sleep 0.01
	done
	wait "$AGENT_PID"
	local rc=$?
	[ "$STOP_MS" = timeout ] || STOP_RC=$rc
}
healthz_code() { node curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$MPORT/healthz"; }
# established server-side connections of the metrics port from a peer matching REGEX
# (it listens on [::]: IPv4 peers are [::ffff:127.0.0.2]:PORT)
held() { node ss -Htn state established "( sport = :$MPORT )" | awk -v s="$1" '$4 ~ s' | wc -l; }

# --- Usage errors: exit 2, before any kubeconfig or cluster is looked for --------------------
for bad in "--metrics-addr bad" "--metrics-addr :70000" "--metrics-addr 127.0.0.1" \
	"--namespace ''" "--node-name ''"; do
	eval "set -- $bad"
	KUBECONFIG= L4SPLIT_PIN_DIR=$LAB_PIN node "$L4SPLIT" agent "$@" >/dev/null 2>"$LAB_ROOT/usage.err"
	rc=$?
	check "usage: agent $bad exits 2 (got $rc)" eq "$rc" 2
	check "usage: agent $bad says what is wrong with the option" grep -q -- "$1" "$LAB_ROOT/usage.err"
done

# --- The API stand-in, quiet watches (no bookmarks) -----------------------------------------
nsenter --net="/run/netns/$LAB-n" "$PY" "$APISERVER" --slice-controller --port 0 --port-file "$LAB_ROOT/api.port" --token t0ken \
	--bookmark-every 600 --timeout 900 &
LAB_PIDS+=($!)
wait_for "$LAB_ROOT/api.port" . 10 >/dev/null
kubeconfig "http://127.0.0.1:$(cat "$LAB_ROOT/api.port")" >"$LAB_ROOT/kubeconfig"
agent_start "$LAB_ROOT/kubeconfig" ":$MPORT" "$LAB_ROOT/agent.log"
end=$((SECONDS + 10))
until [ "$(healthz_code)" = 200 ] || [ $SECONDS -ge $end ]; do sleep 0.1; done
check "agent: /healthz says ok once synced" eq "$(healthz_code)" 200

# --- /metrics: every family declared once, its samples contiguous ------------------------------
l4s service add m1 10.96.0.30:80/tcp >/dev/null
l4s backend add m1 "$(lab_be_addr 1):80" --track old >/dev/null
l4s backend add m1 "10.201.9.2:80" --track new >/dev/null
l4s weight m1 old=3 new=1 >/dev/null
l4s service add m2 10.96.0.31:80/tcp >/dev/null
l4s backend add m2 "$(lab_be_addr 1):81" >/dev/null
node curl -sf "http://127.0.0.1:$MPORT/metrics" >"$LAB_ROOT/metrics.txt"
check "/metrics: each family's HELP, TYPE and samples come once and together" "$PY" -c '
import re, sys
text = open(sys.argv[1]).read()
seen_help, seen_type, done, cur, errs = set(), {}, set(), None, []
def family(sample):
    if sample in seen_type:
        return sample
    for suf in ("_sum", "_count", "_bucket"):
        if sample.endswith(suf) and sample[:-len(suf)] in seen_type:
            return sample[:-len(suf)]
    return sample
def enter(f, what):
    global cur
    if f != cur:
        if f in done:
            errs.append("%s of %s after another family began" % (what, f))
        if cur is not None:
            done.add(cur)
        cur = f
for line in text.splitlines():
    m = re.match(r"# (HELP|TYPE) (\S+)", line)
    if m:
        kind, f = m.groups()
        enter(f, kind)
        if kind == "HELP":
            if f in seen_help: errs.append("HELP of %s twice" % f)
            seen_help.add(f)
        else:
            if f in seen_type: errs.append("TYPE of %s twice" % f)
            seen_type[f] = 1
        continue
    if not line or line.startswith("#"):
        continue
    name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
    f = family(name)
    if f not in seen_type:
        errs.append("sample %s before its TYPE" % name)
    enter(f, "sample " + name)
for e in errs[:10]:
    print("#   " + e)
sys.exit(1 if errs else 0)
' "$LAB_ROOT/metrics.txt"
check "/metrics: backend weights of both services are there" \
	test "$(grep -c '^l4split_backend_weight{' "$LAB_ROOT/metrics.txt")" -eq 3
check "/metrics: and parse with the Prometheus client's parser" "$PY" -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
w, s = fams.get("l4split_backend_weight"), fams.get("l4split_backend_share_ratio")
sys.exit(not (w and s and len(w.samples) == 3 and len(s.samples) == 3))
' "$LAB_ROOT/metrics.txt"

# --- Slow loris: 1,200 idle connections from 20 clients (more than the 1024 of select()) ------------------------------------------
nsenter --net="/run/netns/$LAB-n" "$PY" "$IDLE" 127.0.0.1 "$MPORT" 1200 --sources 20 --ready "$LAB_ROOT/idle.a" &
idle=$!
LAB_PIDS+=($idle)
wait_for "$LAB_ROOT/idle.a" opened 30 >/dev/null
echo "#   $(cat "$LAB_ROOT/idle.a" 2>/dev/null) of 1200; the agent holds $(held '127\.0\.0\.([2-9]|1[0-9]|2[01])]?:[0-9]+$') of them"
check "slow loris (20 clients): 1200 idle connections are open at once (the load is real)" \
	test "$(held '127\.0\.0\.([2-9]|1[0-9]|2[01])]?:[0-9]+$')" -ge 1200
t0=$(date +%s%N)
code=$(healthz_code)
ms=$((($(date +%s%N) - t0) / 1000000))
check "slow loris (20 clients): /healthz answers 200 (${ms} ms, got $code)" eq "$code" 200
check "slow loris (20 clients): ... within 1 s" test "$ms" -lt 1000
check "slow loris (20 clients): /metrics answers too" quiet node curl -sf --max-time 3 "http://127.0.0.1:$MPORT/metrics"
check "slow loris (20 clients): the agent is alive" kill -0 "$AGENT_PID"
kill "$idle"
wait "$idle" 2>/dev/null

# --- Slow loris: 1,000 from one client: it gets a few, the rest is refused --------------------
nsenter --net="/run/netns/$LAB-n" "$PY" "$IDLE" 127.0.0.1 "$MPORT" 1000 --sources 1 --ready "$LAB_ROOT/idle.b" &
idle=$!
LAB_PIDS+=($idle)
wait_for "$LAB_ROOT/idle.b" opened 30 >/dev/null
n=$(held '127\.0\.0\.2]?:[0-9]+$')
echo "#   one client: the agent holds $n of its connections"
check "slow loris (one client): the agent holds at most 64 of its connections" test "$n" -le 64
t0=$(date +%s%N)
code=$(healthz_code)
ms=$((($(date +%s%N) - t0) / 1000000))
check "slow loris (one client): /healthz answers 200 within 1 s (${ms} ms, got $code)" \
	test "$code" = 200 -a "$ms" -lt 1000
end=$((SECONDS + 20))
until [ "$(held '127\.0\.0\.2]?:[0-9]+$')" = 0 ] || [ $SECONDS -ge $end ]; do sleep 0.5; done
check "slow loris: idle connections are closed after the connection timeout" eq "$(held '127\.0\.0\.2]?:[0-9]+$')" 0
kill "$idle"
wait "$idle" 2>/dev/null
check "slow loris: libmicrohttpd's own log lines carry the agent's prefix" \
	eval '! grep -v "^[0-9TZ:-]* l4split-agent: " "$LAB_ROOT/agent.log" | grep -q .'
grep -v "^[0-9TZ:-]* l4split-agent: " "$LAB_ROOT/agent.log" | head -3 | sed 's/^/#   /'

# --- SIGTERM ends the agent within 1 s ---------------------------------------------------------------
stop_agent
check "SIGTERM with watches open: the agent exits within 1 s ($STOP_MS ms)" \
	test "${STOP_MS/timeout/99999}" -lt 1000
check "SIGTERM with watches open: exit 0 (got $STOP_RC)" eq "$STOP_RC" 0

# An API server that accepts connections and never answers: the agent waits in a GET.
nsenter --net="/run/netns/$LAB-n" "$PY" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1]); time.sleep(600)' "$LAB_ROOT/hang.port" &
LAB_PIDS+=($!)
wait_for "$LAB_ROOT/hang.port" . 10 >/dev/null
kubeconfig "http://127.0.0.1:$(cat "$LAB_ROOT/hang.port")" >"$LAB_ROOT/kubeconfig.hang"
agent_start "$LAB_ROOT/kubeconfig.hang" off "$LAB_ROOT/agent-hang.log"
sleep 2
stop_agent
check "SIGTERM while the API server hangs: the agent exits within 1 s ($STOP_MS ms)" \
	test "${STOP_MS/timeout/99999}" -lt 1000
check "SIGTERM while the API server hangs: exit 0 (got $STOP_RC)" eq "$STOP_RC" 0

# An API server that is down: the agent waits between attempts.
kubeconfig "http://127.0.0.1:1" >"$LAB_ROOT/kubeconfig.down"
agent_start "$LAB_ROOT/kubeconfig.down" off "$LAB_ROOT/agent-down.log"
wait_for "$LAB_ROOT/agent-down.log" "listing .* failed" 10 >/dev/null
sleep 1
stop_agent
check "SIGTERM while the API server is down: the agent exits within 1 s ($STOP_MS ms)" \
	test "${STOP_MS/timeout/99999}" -lt 1000
check "SIGTERM while the API server is down: exit 0 (got $STOP_RC)" eq "$STOP_RC" 0
if [ "$T_FAIL" -gt 0 ]; then
	for f in "$LAB_ROOT"/agent*.log; do
		echo "# --- $(basename "$f"), last lines"
		tail -n 8 "$f" | sed 's/^/#   /'
	done
fi
finish
