#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Run the fuzzers for a bounded time and print TAP, with the executions per target:
#   scripts/fuzz.sh SECONDS               datapath (dpfuzz) and every libFuzzer target
#   scripts/fuzz.sh --libfuzzer SECONDS   the libFuzzer targets only
# Crashes are kept under build-fuzz/findings/ with the input that caused them.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
only_lf=0
if [ "${1:-}" = "--libfuzzer" ]; then
	only_lf=1
	shift
fi
secs=${1:-60}
mkdir -p build-fuzz
n=0
fail=0
tap() { # tap OK DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=$((fail + 1)); fi
}

if [ $only_lf = 0 ]; then
	"$BUILD/tests/dpfuzz" --seconds "$secs" >build-fuzz/dpfuzz.log 2>&1
	grep '^#' build-fuzz/dpfuzz.log
	while IFS= read -r line; do
		case $line in
		"ok "*) tap 1 "datapath: ${line#ok * - }" ;;
		"not ok "*) tap 0 "datapath: ${line#not ok * - }" ;;
		esac
	done <build-fuzz/dpfuzz.log
fi

declare -A seeds=(
	[k8s]="tests/fixtures/k8s/podlist tests/fixtures/k8s/endpointslice tests/fixtures/k8s/kubectl-generated"
	[annotations]="tests/fuzz/seeds/annotations tests/fixtures/k8s/service tests/fixtures/k8s/kubectl-generated"
	[parse]="tests/fuzz/seeds/parse"
)
for t in k8s annotations parse; do
	bin=build-fuzz/fuzz_$t
	corpus=build-fuzz/corpus/$t
	mkdir -p "$corpus" build-fuzz/findings
	log=build-fuzz/fuzz_$t.log
	dict=
	[ $t != parse ] && dict=-dict=tests/fuzz/json.dict
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build-fuzz/findings/"$t"- $dict "$corpus" ${seeds[$t]} >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	echo "# fuzz_$t: ${execs:-0} executions in $secs s, $cov, corpus $(ls "$corpus" | wc -l) inputs"
	if [ $rc -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|runtime error|Assertion' "$log" | head -5 | sed 's/^/#   /'
		echo "#   input kept in build-fuzz/findings/; replay: $bin build-fuzz/findings/$t-*"
	fi
	tap "$([ $rc -eq 0 ] && [ "${execs:-0}" -gt 1000 ] && echo 1 || echo 0)" \
		"fuzz_$t: no crash, leak, assertion or undefined behaviour in ${execs:-0} executions"
done
echo "1..$n"
[ $fail -eq 0 ]
