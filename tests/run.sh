#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Run every test group and print one closing line: "N passed, N failed".
# Each group prints TAP-style "ok - ..." / "not ok - ..." lines; a group that exits
# non-zero without a "not ok" line counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LOG=$BUILD/test-logs
mkdir -p "$LOG"
pass=0
fail=0
failed_groups=()

if [ "$(id -u)" -ne 0 ]; then
	echo "Error: the tests load BPF programs and create network namespaces: run as root" >&2
	exit 1
fi

run_group() {
	local name=$1
	shift
	local out="$LOG/$name.log" rc p f start=$SECONDS
	echo "== $name"
	CMOCKA_MESSAGE_OUTPUT=TAP "$@" >"$out" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$out"
	fi
	grep -E '^(not ok|# )' "$out" | sed 's/^/   /'
	echo "   $name: $p passed, $f failed ($((SECONDS - start)) s)"
	pass=$((pass + p))
	fail=$((fail + f))
	[ "$f" -gt 0 ] && failed_groups+=("$name")
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] && run_group "unit-$(basename "$t")" "$t"
done
[ -x "$BUILD/tests/datapath" ] && run_group datapath "$BUILD/tests/datapath"
run_group datapath-explain "$BUILD/tests/dp-explain"
run_group datapath-snat "$BUILD/tests/dp-snat"
run_group datapath-capacity "$BUILD/tests/dp-capacity"
# Bounded fuzzing (make fuzz runs the same for longer).
run_group fuzz-datapath "$BUILD/tests/dpfuzz" --seconds 45
[ -x build-fuzz/fuzz_k8s ] && run_group fuzz-parsers scripts/fuzz.sh --libfuzzer 15
run_group deploy-manifests /usr/bin/python3 tests/deploy/test_manifests.py
run_group layers /usr/bin/python3 tests/layers/check_layers.py
run_group docs-man tests/docs/test_man.sh
run_group docs-completion tests/docs/test_completion.sh
for t in tests/e2e/test_*.sh; do
	run_group "e2e-$(basename "$t" .sh)" timeout 900 "$t"
done
# Under ASan + UBSan (built by `make asan`): the unit and datapath tests, and the
# command layer driven end to end by the lifecycle test. Any finding fails the group.
if [ -x build-asan/l4split ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1
	for t in build-asan/tests/test_*; do
		[ -x "$t" ] && run_group "asan-unit-$(basename "$t")" "$t"
	done
	run_group asan-datapath build-asan/tests/datapath
	run_group asan-datapath-explain build-asan/tests/dp-explain
	run_group asan-e2e-test_lifecycle env L4SPLIT="$PWD/build-asan/l4split" timeout 900 tests/e2e/test_lifecycle.sh
	run_group asan-e2e-test_apply env L4SPLIT="$PWD/build-asan/l4split" timeout 900 tests/e2e/test_apply.sh
	run_group asan-e2e-test_rollout env L4SPLIT="$PWD/build-asan/l4split" timeout 900 tests/e2e/test_rollout.sh
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi
# The canary again through the other hooks: generic XDP and tc ingress.
run_group "e2e-test_canary-generic" env L4S_ATTACH="--xdp-mode generic" timeout 900 tests/e2e/test_canary.sh
run_group "e2e-test_canary-tc" env L4S_ATTACH="--tc-only" timeout 900 tests/e2e/test_canary.sh

# The node path on Debian's 6.1 and 5.10 kernels under qemu (make test-kernels; about 4
# minutes a kernel). L4S_KERNELS=none skips it, L4S_KERNELS="6.1" runs one.
[ "${L4S_KERNELS:-}" != none ] && run_group kernels timeout 1500 scripts/test-kernels.sh

[ ${#failed_groups[@]} -gt 0 ] && echo "failed groups: ${failed_groups[*]} (logs in $LOG)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
