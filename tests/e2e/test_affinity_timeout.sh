#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Client-IP affinity with a timeout (#16, Kubernetes sessionAffinity ClientIP with
# timeoutSeconds), with real TCP connections through XDP: a client keeps its backend over
# a weight change that sends everyone else to the other one, a client never seen follows
# the weights, and once the first client has been idle for longer than the timeout its
# next connection follows the weights too. status and explain show the timeout.
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-at$$
. scripts/lab.sh
. tests/lib/e2e.sh

PY=/usr/bin/python3
TMO=3
lab_start old new
# A second client address on c0.
ip -n "$LAB-c" addr add 10.200.0.3/24 dev c0

# conn SRC [N]: N connections (default 1) from SRC to the service, one after another;
# prints the backend names that answered, one per line ("fail" for a failed one).
conn() {
	lab_client "$PY" - "$1" "${2:-1}" <<'EOF'
import socket, sys
src, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.bind((src, 0))
        s.connect(("10.96.0.20", 80))
        s.sendall(b"x\n")
        print(s.recv(100).decode().strip() or "fail")
    except OSError:
        print("fail")
    finally:
        s.close()
EOF
}
other() { [ "$1" = old ] && echo new || echo old; }

check "attach n0" quiet l4s attach n0
check "service add --affinity client-ip --affinity-timeout $TMO" \
	quiet l4s service add aff 10.96.0.20:80/tcp --affinity client-ip --affinity-timeout $TMO
l4s backend add aff "$(lab_be_addr 1):80" --track old >/dev/null 2>&1
l4s backend add aff "$(lab_be_addr 2):80" --track new >/dev/null 2>&1
l4s weight aff old=1 new=1 >/dev/null
check "status shows the timeout" \
	eq "$(l4s --json status | jq -r '.services[] | select(.name == "aff") | .affinity_timeout')" $TMO
check "explain says a client keeps its backend $TMO s" \
	grep -q "within the last $TMO s" <<<"$(l4s explain aff 10.200.0.2:1234)"

a=$(conn 10.200.0.2)
check "client A's first connection is answered ($a)" test "$a" = old -o "$a" = new
o=$(other "$a")
# Everyone else to the other backend: A's own slot goes there too (99.9%).
l4s weight aff "$a=1" "$o=999" >/dev/null
out=$(conn 10.200.0.2 10 | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
check "after the weight change, A's 10 new connections all keep $a" eq "$out" "$a:10 "
b=$(conn 10.200.0.3 5 | sort -u | tr '\n' ' ')
check "client B, never seen, follows the weights: $o" eq "$b" "$o "
sleep $((TMO + 1))
m=$(conn 10.200.0.2)
check "A idle longer than the timeout: its next connection follows the weights ($o)" eq "$m" "$o"
out=$(conn 10.200.0.2 5 | sort -u | tr '\n' ' ')
check "  and its next ones stay there" eq "$out" "$o "
# A drained backend is not kept: B, remembered on $o, moves when $o is drained.
l4s weight aff "$a=1" "$o=0" >/dev/null
check "B's backend drained (weight 0): B moves to $a at once" eq "$(conn 10.200.0.3)" "$a"
finish
