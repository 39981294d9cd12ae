#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# l4split apply: a declarative document becomes the state (and traffic follows it);
# status --json round-trips; --prune; --dry-run; bad documents are refused whole, with
# the path of the offending field, and change nothing.
set -u
cd "$(dirname "$0")/../.."
LAB=l4e-ap$$
. scripts/lab.sh
. tests/lib/e2e.sh

lab_start old new
l4s attach n0 >/dev/null
apply() { L4SPLIT_PIN_DIR=$LAB_PIN nsenter --net="/run/netns/$LAB-n" "$L4SPLIT" apply "$@"; }
doc() { # WEB_WEIGHTS_JQ
	jq -n --arg old "$OLD:80" --arg new "$NEW:80" --arg o53 "$OLD:53" --arg n53 "$NEW:53" "
	{services: [
	  {name: \"web\", vip: \"$VIP4:80/tcp\", affinity: \"none\",
	   tracks: {old: 3, new: 1},
	   backends: [{addr: \$old, track: \"old\"}, {addr: \$new, track: \"new\", weight: 1}]},
	  {name: \"dns\", frontends: [\"$VIP4:53/udp\"], affinity: \"client-ip\", table_size: 1021,
	   backends: [{addr: \$o53}, {addr: \$n53}]}
	]} ${1:-}"
}

out=$(doc | apply -)
check "apply from empty: 2 created" eq "$out" "2 created, 0 updated, 0 unchanged, 0 deleted"
check "web: track weights as written" eq "$(l4s status web --json | jq -cS '.services[0].tracks')" '{"new":1,"old":3}'
check "dns: no tracks given, one track 'default' at 1" eq "$(l4s status dns --json | jq -c '.services[0].tracks')" '{"default":1}'
check "dns: affinity and table size as written" \
	eq "$(l4s status dns --json | jq -c '.services[0] | [.affinity, .table_size]')" '["client-ip",1021]'
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "traffic follows the document: 3:1 is 25% new +- 4" share_within "$out" new 25 4
# The backend index (DSR replies, reply-path repair) names every created backend's VIP.
check "apply from empty: the backend index holds the 4 backends, each with its VIP" \
	eq "$(bpftool -j map dump pinned "$LAB_PIN/l4s_bindex" | jq -c '[.[].formatted.value.vip.addr[0]] | length, unique')" \
	"$(IFS=. read -r a b c d <<<"$VIP4"; printf '4\n[%d]' $((a | b << 8 | c << 16 | d << 24)))"

before=$(l4s status --json)
out=$(l4s status --json | apply -)
check "status --json applied back: nothing to do" eq "$out" "0 created, 0 updated, 2 unchanged, 0 deleted"
check "status --json round trip leaves the state byte-identical" eq "$(l4s status --json)" "$before"
out=$(doc | apply -)
check "the same document again: 2 unchanged" eq "$out" "0 created, 0 updated, 2 unchanged, 0 deleted"

out=$(doc '| .services[0].tracks = {old: 1, new: 1}' | apply - --dry-run)
check "--dry-run says what would change, and which services" eq "$out" "dry run: 0 created, 1 updated, 1 unchanged, 0 deleted
  updated: web"
check "--dry-run changes nothing" eq "$(l4s status --json)" "$before"
out=$(doc '| .services[0].tracks = {old: 1, new: 1}' | apply -)
check "a weight change: 1 updated" eq "$out" "0 created, 1 updated, 1 unchanged, 0 deleted"
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 2000)
check "traffic follows: 1:1 is 50% new +- 5" share_within "$out" new 50 5
out=$(doc '| .services[0].tracks = {old: 1, new: 1} | .services[0].mode = "nat"' | apply -)
check "a mode change: 1 updated" eq "$out" "0 created, 1 updated, 1 unchanged, 0 deleted"
check "  status shows it, and applying status back is a no-op" \
	eq "$(l4s status web --json | jq -r '.services[0].mode') $(l4s status --json | apply -)" \
	"nat 0 created, 0 updated, 2 unchanged, 0 deleted"

# A frontend change moves the backend index's VIP with it (and back).
vipword() { local a b c d; IFS=. read -r a b c d <<<"$1"; echo $((a | b << 8 | c << 16 | d << 24)); }
ixvips() { bpftool -j map dump pinned "$LAB_PIN/l4s_bindex" | jq -c '[.[].formatted.value.vip.addr[0]] | unique'; }
check "a frontend change: applied" quiet apply <(doc '| .services[0].tracks = {old: 1, new: 1} | .services[0].mode = "nat" | .services[0].vip = "10.96.0.98:80/tcp"')
check "a frontend change: the backend index names the new VIP" \
	eq "$(ixvips)" "$(jq -cn --argjson a "$(vipword $VIP4)" --argjson b "$(vipword 10.96.0.98)" '[$a, $b] | sort')"
check "... changed back: applied" quiet apply <(doc '| .services[0].tracks = {old: 1, new: 1} | .services[0].mode = "nat"')
check "... and the old one again when it comes back" eq "$(ixvips)" "[$(vipword $VIP4)]"

# Bad documents: refused whole, the field named, exit 2, nothing changed.
before=$(l4s status --json)
bad() { # DESC JQ EXPECTED_MESSAGE_PART
	local out rc
	out=$(doc "$2" | apply - 2>&1)
	rc=$?
	check "bad document ($1): exit 2" eq "$rc" 2
	check "bad document ($1): the error names it" grep -qF -- "$3" <<<"$out"
}
bad "address" '| .services[0].backends[1].addr = "10.0.0.300:80"' "services[0].backends[1].addr"
bad "unknown field" '| .services[1].wieght = 3' 'services[1]: unknown field "wieght"'
bad "track without a weight" '| .services[0].backends[1].track = "canary"' \
	'services[0].backends[1].track: "canary" has no weight in services[0].tracks'
bad "negative weight" '| .services[0].tracks.old = -1' "services[0].tracks.old: weight -1 is wrong"
bad "weight as a string" '| .services[0].backends[0].weight = "2"' "services[0].backends[0].weight: expected a number"
bad "two services, one name" '| .services[1].name = "web"' 'services[1].name: "web" is also services[0]'
bad "one frontend twice" '| .services[1].frontends = ["'$VIP4':80/tcp"]' "frontend $VIP4:80/tcp is also one of services[0]"
bad "table size not prime" '| .services[1].table_size = 1000' "services[1].table_size: expected a prime"
bad "IPv6 backend in an IPv4 service" '| .services[0].backends[0].addr = "[fd00::1]:80"' "not of the service's address family"
bad "a backend twice" '| .services[0].backends[1].addr = .services[0].backends[0].addr' "is listed twice"
bad "unknown mode" '| .services[0].mode = "fast"' 'services[0].mode: expected "auto", "nat", "snat" or "dsr"' 
out=$(echo '{"services": [' | apply - 2>&1)
check "not JSON: exit 2 with line and column" grep -q "stdin: line" <<<"$out"
check "state unchanged after every bad document" eq "$(l4s status --json)" "$before"

# Live-state conflicts and --prune.
l4s service add extra 10.96.0.99:80/tcp >/dev/null
out=$(doc '| .services[0].frontends = ["10.96.0.99:80/tcp"]' | apply - 2>&1)
check "frontend owned by an unlisted service: exit 1" eq "$?" 1
check "... which the error names, with a hint about --prune" grep -q 'used by service "extra".*' <<<"$out"
check "... and nothing changed" eq "$(l4s status web --json | jq -c '.services[0].frontends')" "[\"$VIP4:80/tcp\"]"
out=$(doc | apply -)
check "without --prune, unlisted services stay" quiet l4s status extra
out=$(doc '| .services |= map(select(.name == "web"))' | apply - --prune)
check "--prune deletes what the document does not list" eq "$out" "0 created, 0 updated, 1 unchanged, 2 deleted"
check "--prune: only web is left" eq "$(l4s status --json | jq -c '[.services[].name]')" '["web"]'
# The backend index (reply-path repair, DSR) holds exactly web's backends now.
ix=$(bpftool -j map dump pinned "$LAB_PIN/l4s_bindex" | jq length)
check "--prune: the backend index holds only web's backends" \
	eq "$ix" "$(l4s status web --json | jq '.services[0].backends | length')"
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
check "web still answers after the prune" eq "$(total_answers "$out")" 200
# Over capacity: refused before anything is written.
before=$(l4s status --json)
out=$(jq -n '{services: [range(5000) as $i | {name: "big\($i)", vip: "10.97.\($i / 250 | floor).\($i % 250 + 1):80/tcp",
	backends: [range(14) as $b | {addr: "10.3.\($i / 250 | floor).\($i % 250 + 1):\(8000 + $b)"}]}]}' | apply - 2>&1)
check "70,000 backends (over the 65,536 slots): exit 1" eq "$?" 1
check "... says how many are needed" grep -q "needs 70000 backends" <<<"$out"
check "... and writes nothing" eq "$(l4s status --json)" "$before"

# Issue 21: what apply keeps as written.
# Frontends keep their order: the first written is the VIP (the DSR source, reply repair).
out=$(doc '| .services |= map(select(.name == "web")) | .services[0].vip = "10.96.0.21:80/tcp" | .services[0].frontends = ["10.96.0.20:80/tcp", "10.96.0.22:80/tcp"]' | apply - --prune)
check "frontends in the order written: vip is the first" \
	eq "$(l4s status web --json | jq -c '.services[0] | [.vip, .frontends]')" \
	'["10.96.0.21:80/tcp",["10.96.0.21:80/tcp","10.96.0.20:80/tcp","10.96.0.22:80/tcp"]]'
out=$(doc '| .services |= map(select(.name == "web")) | .services[0].vip = "10.96.0.22:80/tcp" | .services[0].frontends = ["10.96.0.21:80/tcp", "10.96.0.20:80/tcp"]' | apply -)
check "... and a new order is stored (1 updated)" eq "$out" "0 created, 1 updated, 0 unchanged, 0 deleted"
check "... the new first is the VIP" eq "$(l4s status web --json | jq -r '.services[0].vip')" "10.96.0.22:80/tcp"
# A weight the CLI refuses is refused here too (it became 0 silently).
before=$(l4s status --json)
out=$(doc '| .services[0].tracks.new = 1e-7' | apply - 2>&1)
check "weight 1e-7: exit 2, naming the field" grep -q 'services\[0\].tracks.new: weight 1e-07 is wrong' <<<"$out"
check "... and nothing changed" eq "$(l4s status --json)" "$before"
# A declared track without backends keeps its weight (a replaced canary gets it back).
out=$(doc '| .services |= map(select(.name == "web")) | .services[0].backends |= map(select(.track == "old"))' | apply -)
check "a track without backends is kept with its weight" \
	eq "$(l4s status web --json | jq -c '.services[0].tracks')" '{"new":1,"old":3}'
check "... and takes no traffic meanwhile" \
	eq "$(l4s status web --json | jq -c '.services[0].track_shares.new')" 0
out=$(doc '| .services |= map(select(.name == "web"))' | apply -)
out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 400)
check "its backend back: 3:1 again (25% new +- 8)" share_within "$out" new 25 8
# Owner survives the round trip status --json | apply -.
out=$(doc '| .services |= map(select(.name == "web")) | .services[0].owner = "agent"' | apply -)
check "owner agent: status shows it" eq "$(l4s status web --json | jq -r '.services[0].owner')" agent
check "... in text too" grep -q 'owner agent' <<<"$(l4s status web)"
out=$(l4s status --json | apply -)
check "... and status --json | apply - keeps it" eq "$(l4s status web --json | jq -r '.services[0].owner')" agent
# Duplicate keys are refused, not the last one taken.
out=$(echo '{"services": [{"name": "a", "name": "b", "vip": "10.96.0.30:80/tcp"}]}' | apply - 2>&1)
check "duplicate JSON keys: exit 2" eq "$?" 2
check "... saying so" grep -q 'duplicate object key' <<<"$out"
finish
