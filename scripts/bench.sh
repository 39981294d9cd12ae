#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# make bench: what l4split costs and how precise it is, each figure beside a baseline
# measured in the same run (these machines are noisy: compare ratios, not absolutes).
# Prints a table and writes build/bench.json. Not part of `make test`.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
L4SPLIT=$PWD/$BUILD/l4split
OUT=$BUILD/bench.json
ROOT=/run/l4s-bench$$
RESULTS=()

cleanup() {
	local d
	for d in "$ROOT"/*/; do
		[ -e "$d/l4s_config" ] && L4SPLIT_PIN_DIR=$d "$L4SPLIT" detach --all --purge >/dev/null 2>&1
	done
	findmnt -rn -o TARGET | grep "^$ROOT/" | sort -r | while read -r m; do umount "$m"; done
	rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$ROOT"

# result SECTION NAME VALUE UNIT [BASELINE_NAME BASELINE_VALUE] [TARGET]
result() {
	RESULTS+=("$(jq -cn --arg s "$1" --arg n "$2" --argjson v "$3" --arg u "$4" \
		--arg bn "${5:-}" --arg bv "${6:-}" --arg t "${7:-}" \
		'{section: $s, name: $n, value: $v, unit: $u} +
		 (if $bn != "" then {baseline: $bn, baseline_value: ($bv | tonumber),
		   ratio: (if ($bv | tonumber) != 0 then ($v / ($bv | tonumber)) else null end)} else {} end) +
		 (if $t != "" then {target: $t} else {} end)')")
	printf '  %-52s %12s %-6s' "$2" "$3" "$4"
	[ -n "${5:-}" ] && printf '  x%.2f of %s' "$(awk -v a="$3" -v b="$6" 'BEGIN { print b ? a / b : 0 }')" "$5"
	[ -n "${7:-}" ] && printf '  (target %s)' "$7"
	printf '\n'
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
node() { L4SPLIT_PIN_DIR=$ROOT/$1 "$L4SPLIT" "${@:2}"; }

echo "l4split benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"

# --- 1. Datapath cost per packet -------------------------------------------------------
echo "datapath, ns per packet (BPF_PROG_TEST_RUN, repeat=1, net of the empty-program floor):"
mkdir -p "$ROOT/dp"
node dp service add web4 10.96.0.10:80/tcp >/dev/null
node dp service add web6 '[fd00:96::10]:80/tcp' >/dev/null
for i in 1 2; do
	node dp backend add web4 "10.1.0.$i:8080" >/dev/null
	node dp backend add web6 "[fd00:1::$i]:8080" >/dev/null
done
L4SPLIT_PIN_DIR=$ROOT/dp "$BUILD/tests/bench-dp" "$BUILD/tests/floor.bpf.o" 100000 >"$ROOT/dp.json"
floor4=$(jq -r 'select(.case == "floor: empty program (ipv4)") | .ns' "$ROOT/dp.json")
while read -r line; do
	c=$(jq -r .case <<<"$line")
	net=$(jq -r .net_ns <<<"$line")
	bad=$(jq -r .bad_outputs <<<"$line")
	[ "$bad" != 0 ] && echo "  !! $c: $bad outputs were wrong"
	case $c in
	"established flow"*) t="<= 80" ;;
	"new flow"*) t="<= 450" ;;
	"non-service"*) t="<= 25" ;;
	*) t="" ;;
	esac
	case $c in
	floor:\ empty*) result datapath "$c" "$net" ns ;;
	*) result datapath "$c (net)" "$net" ns "floor (empty program)" "$floor4" "$t" ;;
	esac
done <"$ROOT/dp.json"

# --- 2. Split precision -------------------------------------------------------------------
echo "split precision (100,000 new flows through the real program, M = 65521):"
mkdir -p "$ROOT/sp"
node sp service add c1 10.96.1.1:80/tcp --table-size 65521 >/dev/null
node sp backend add c1 10.2.0.1:80 --track old >/dev/null
node sp backend add c1 10.2.0.2:80 --track new >/dev/null 2>&1
node sp service add c01 10.96.1.2:80/tcp --table-size 65521 >/dev/null
node sp backend add c01 10.2.1.1:80 --track old >/dev/null
node sp backend add c01 10.2.1.2:80 --track new >/dev/null 2>&1
node sp weight c1 old=99 new=1 >/dev/null
node sp weight c01 old=999 new=1 >/dev/null
for v in "c1 10.96.1.1 10.2.0.2 1" "c01 10.96.1.2 10.2.1.2 0.1"; do
	set -- $v
	share=$(L4SPLIT_PIN_DIR=$ROOT/sp "$BUILD/tests/l4s-route" "$2" 80 tcp 100000 |
		awk -v b="$3:80" '$1 == b { n++ } END { printf "%.4f", 100 * n / NR }')
	result precision "observed share of a $4% canary" "$share" "%" "weight" "$4"
done
result precision "smallest share the table can express (1 slot of 65521)" \
	"$(awk 'BEGIN { printf "%.5f", 100 / 65521 }')" "%"

# --- 3. Control plane -------------------------------------------------------------------------
echo "control plane (wall time of the command, median of 5):"
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for spec in "16381 100 20" "65521 1000 50"; do
	set -- $spec
	d=cp$1
	mkdir -p "$ROOT/$d"
	node "$d" service add w 10.96.2.1:80/tcp --table-size "$1" >/dev/null
	jq -n --argjson n "$2" --argjson m "$1" '{services: [{name: "w", vip: "10.96.2.1:80/tcp",
		table_size: $m, tracks: {old: 1, new: 1},
		backends: [range($n) | {addr: "10.3.\(. / 250 | floor).\(. % 250 + 1):80",
		                        track: (if . % 10 == 0 then "new" else "old" end)}]}]}' |
		node "$d" apply - >/dev/null
	t=$(for i in 1 2 3 4 5; do
		s=$(date +%s%N)
		node "$d" weight w old=$((i + 1)) new=1 >/dev/null
		ms_since "$s"
	done | median)
	result control "weight change live, M=$1, $2 backends" "$t" ms "" "" "<= $3"
done
# sync of a 10,000-pod list (generated from the fixture pod).
mkdir -p "$ROOT/sy"
node sy service add big 10.96.3.1:80/tcp >/dev/null
jq -c '{kind: "PodList", apiVersion: "v1", metadata: {resourceVersion: "1"},
	items: [range(10000) as $i | (. | .metadata.name = "p\($i)" |
		.metadata.labels = {run: (if $i % 10 == 0 then "new" else "old" end)} |
		.status.podIP = "10.\(100 + ($i / 62500 | floor)).\($i / 250 % 250 | floor).\($i % 250 + 1)" |
		.status.podIPs = [{ip: .status.podIP}])]}' \
	tests/fixtures/k8s/podlist/pod-dualstack-kubectl-get-o-yaml.json >"$ROOT/pods.json"
s=$(date +%s%N)
node sy sync big --pods "$ROOT/pods.json" --track-label run --weight old=9 --weight new=1 >/dev/null
result control "sync of a 10,000-pod list" "$(ms_since "$s")" ms "" "" "<= 300"
# apply from empty. (10,000 x 4 = 40,000 backends is over the 16,384 backend slots:
# the largest document that fits is measured instead.)
for n in 1000 4000; do
	mkdir -p "$ROOT/ap$n"
	jq -n --argjson n "$n" '{services: [range($n) as $i | {name: "s\($i)",
		vip: "10.\(64 + ($i / 62500 | floor)).\($i / 250 % 250 | floor).\($i % 250 + 1):80/tcp",
		tracks: {old: 99, new: 1},
		backends: [range(4) as $b | {addr: "10.200.\($i / 250 | floor % 250).\($i % 250 + 1):\(8000 + $b)",
		                           track: (if $b == 3 then "new" else "old" end)}]}]}' >"$ROOT/apply$n.json"
	s=$(date +%s%N)
	if timeout 300 env L4SPLIT_PIN_DIR="$ROOT/ap$n" "$L4SPLIT" apply "$ROOT/apply$n.json" >/dev/null; then
		result control "apply $n services x 4 backends from empty" "$(ms_since "$s")" ms
	else
		echo "  !! apply of $n services failed or took over 300 s"
	fi
done

# --- 4. Memory ------------------------------------------------------------------------------------
echo "memory (bpftool map show: memlock of the pinned maps):"
mem_of() { # PIN_DIR MAP
	bpftool -j map show pinned "$1/$2" 2>/dev/null | jq '.bytes_memlock // 0'
}
flows=$(mem_of "$ROOT/dp" l4s_flows)
rflows=$(mem_of "$ROOT/dp" l4s_rflows)
result memory "flow table, per flow (forward + reverse entry)" \
	"$(awk -v a="$flows" -v b="$rflows" 'BEGIN { printf "%.1f", (a + b) / 1048576 }')" bytes
total=0
for f in "$ROOT/dp"/l4s_*; do
	total=$((total + $(mem_of "$ROOT/dp" "$(basename "$f")")))
done
result memory "all maps, 1M flows (fixed size, any number of services)" \
	"$(awk -v t="$total" 'BEGIN { printf "%.1f", t / 1048576 }')" MiB
result memory "lookup table per service (M = 16381 slots x 4 bytes)" "$((16381 * 4))" bytes

jq -s --arg date "$(date -u +%Y-%m-%dT%H:%MZ)" --arg kernel "$(uname -r)" --arg cpus "$(nproc)" \
	'{date: $date, kernel: $kernel, cpus: ($cpus | tonumber), results: .}' \
	< <(printf '%s\n' "${RESULTS[@]}") >"$OUT"
echo "written: $OUT"
