#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Reject instead of silence (#16): a client's new flow to a service whose backends all
# have weight 0 fails at once, as with kube-proxy: TCP connect() gets ECONNREFUSED (a RST
# from the VIP), a connected UDP socket gets ECONNREFUSED on its next recv (an ICMP port
# unreachable), IPv4 and IPv6, through XDP and through the tc forward path; the answers
# are counted as drop_no_backend as before, and a service with backends is unaffected.
set -u
cd "$(dirname "$0")/../.." || exit 1
LAB=l4e-rj$$
. scripts/lab.sh
. tests/lib/e2e.sh

PY=/usr/bin/python3
lab_start old new
sj() { l4s --json "$1" | jq -r "$2"; }
verdict() { sj stats ".reasons.$1"; }

# probe tcp|udp ADDR PORT: how a client's new flow ends, and in how many ms:
# "refused 3", "timeout 2000", "answered 5", or another errno name.
probe() {
	lab_client "$PY" - "$@" <<'EOF'
import errno, socket, sys, time
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(2)
t0 = time.monotonic()
try:
    s.connect((addr, port))
    s.send(b"x\n")
    got = s.recv(100)
    r = "answered" if got else "closed"
except ConnectionRefusedError:
    r = "refused"
except socket.timeout:
    r = "timeout"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e.errno))
print(r, int((time.monotonic() - t0) * 1000))
EOF
}

for s in "web $VIP4:80/tcp" "dns $VIP4:53/udp" "web6 [$VIP6]:80/tcp" "dns6 [$VIP6]:53/udp" \
	"none 10.96.0.20:80/tcp" "noneu 10.96.0.20:53/udp" "none6 [fd00:96::20]:80/tcp" \
	"noneu6 [fd00:96::20]:53/udp"; do
	# shellcheck disable=SC2086
	l4s service add $s >/dev/null || not_ok "service add $s"
done
for i in 1 2; do
	t=$([ $i = 1 ] && echo old || echo new)
	for s in web none; do l4s backend add $s "$(lab_be_addr $i):80" --track $t >/dev/null; done
	for s in dns noneu; do l4s backend add $s "$(lab_be_addr $i):53" --track $t >/dev/null; done
	for s in web6 none6; do l4s backend add $s "[$(lab_be_addr $i 6)]:80" --track $t >/dev/null; done
	l4s backend add dns6 "[$(lab_be_addr $i 6)]:53" --track $t >/dev/null # noneu6: none at all
done
for s in web dns web6 dns6; do l4s weight $s old=1 new=1 >/dev/null; done
for s in none noneu none6; do l4s weight $s old=0 new=0 >/dev/null; done

run_checks() { # HOOK
	local h=$1 nb0 out r
	nb0=$(verdict drop_no_backend)
	for v in "tcp 10.96.0.20 80 IPv4 TCP" "tcp fd00:96::20 80 IPv6 TCP" \
		"udp 10.96.0.20 53 IPv4 UDP" "udp fd00:96::20 53 IPv6 UDP"; do
		set -- $v
		r=$(probe "$1" "$2" "$3")
		echo "#   $h $4 $5: $r"
		check "$h, $4 $5, no backend of weight > 0: refused at once (< 1 s)" \
			eq "$(awk '{ print $1, ($2 < 1000 ? "fast" : "slow") }' <<<"$r")" "refused fast"
	done
	check "$h: the 4 answered flows counted as drop_no_backend" \
		eq "$(($(verdict drop_no_backend) - nb0))" 4
	for v in "tcp $VIP4 80 IPv4 TCP" "tcp $VIP6 80 IPv6 TCP" "udp $VIP4 53 IPv4 UDP" \
		"udp $VIP6 53 IPv6 UDP"; do
		set -- $v
		check "$h, $4 $5, a service with backends: answered" \
			eq "$(probe "$1" "$2" "$3" | cut -d' ' -f1)" answered
	done
	out=$(lab_client "$TRAFFIC" tcp $VIP4 80 --count 200)
	check "$h: 200 connections to a service with backends, none failed" \
		eq "$(tv "$out" failed) $(total_answers "$out")" "0 200"
	# An address that is no frontend is not answered by l4split: the kernel routes it.
	check "$h: a port that is not a frontend is left to the kernel (not counted)" \
		eq "$(probe tcp 10.96.0.20 81 >/dev/null; echo $(($(verdict drop_no_backend) - nb0)))" 4
}

check "attach n0 (XDP)" quiet l4s attach n0
# XDP_TX on a veth reaches the peer only when the peer runs XDP too, as XDP redirects
# into a veth (DESIGN.md); a NIC sends it back by itself. The client's c0 gets l4split's
# forward program of a state of its own, with no service: it passes everything.
check "XDP on the client's c0 too (an empty state of its own)" \
	quiet env L4SPLIT_PIN_DIR="$LAB_ROOT/cpin" nsenter --net="/run/netns/$LAB-c" "$L4SPLIT" attach c0
run_checks XDP
check "detach n0" quiet l4s detach n0
env L4SPLIT_PIN_DIR="$LAB_ROOT/cpin" nsenter --net="/run/netns/$LAB-c" "$L4SPLIT" detach c0 >/dev/null
check "attach n0 --tc-only" quiet l4s attach n0 --tc-only
run_checks tc
finish
