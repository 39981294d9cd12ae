#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# make test-kernels: boot each kernel of a list under qemu (scripts/kernel-vm.sh) with this
# machine's root filesystem, and run tests/kernels/guest.sh there: the load checks, the
# datapath tests and the seed scenario, on that kernel's verifier, helpers and hooks.
# Prints "kernel K: N passed, N failed" per kernel and a closing "N passed, N failed".
#
# Usage: scripts/test-kernels.sh [KERNEL...]   (default: $L4S_KERNELS, else "6.1 5.10")
#   KERNEL  6.1 (Debian 12's newest linux-image-6.1.0-*-amd64-unsigned),
#           5.10 (Debian 11's, from bullseye-security), a linux-image-* package name,
#           a .deb, or a directory made by dpkg -x
# The packages are fetched with apt-get download, unpacked and cached under $KVM_HOME
# (default /var/cache/l4split-kernels), never installed. Needs root.
set -u
cd "$(dirname "$0")/.."
export KVM_HOME=${KVM_HOME:-/var/cache/l4split-kernels}
BUILD=${BUILD:-build}
read -r -a KERNELS <<<"${*:-${L4S_KERNELS:-6.1 5.10}}"
DEBIAN_MIRROR=${DEBIAN_MIRROR:-}

[ "$(id -u)" -eq 0 ] || { echo "Error: test-kernels boots kernels under qemu: run as root" >&2; exit 1; }
mkdir -p "$KVM_HOME/debs" "$KVM_HOME/apt"

# The mirror the machine's own sources name (deb822 or one-line), for the private list.
mirror() {
	[ -n "$DEBIAN_MIRROR" ] && { echo "$DEBIAN_MIRROR"; return; }
	local m
	m=$(sed -n 's,^URIs:[[:space:]]*\(https\?://[^ ]*\)/debian/\?$,\1,p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
	[ -n "$m" ] || m=$(sed -n 's,^deb[[:space:]].*\(https\?://[^ ]*\)/debian/\?[[:space:]].*,\1,p' /etc/apt/sources.list 2>/dev/null | head -1)
	echo "${m:-http://deb.debian.org}"
}

# A private apt configuration for Debian 11's security suite: the machine's apt sources,
# lists and status are never touched.
bullseye_apt() {
	local d=$KVM_HOME/apt/bullseye
	mkdir -p "$d/parts" "$d/lists/partial" "$d/archives/partial"
	: >"$d/status"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror)/debian-security bullseye-security main" >"$d/sources.list"
	cat >"$d/apt.conf" <<-EOF
	Dir::Etc::SourceList "$d/sources.list";
	Dir::Etc::SourceParts "$d/parts";
	Dir::State::Lists "$d/lists";
	Dir::State::status "$d/status";
	Dir::Cache::Archives "$d/archives";
	EOF
	# One update a day is enough (the suite's kernel ABI moves every few weeks).
	if [ -z "$(find "$d/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
		APT_CONFIG=$d/apt.conf apt-get update -qq >&2 || return 1
	fi
	echo "$d/apt.conf"
}

# The newest linux-image-VER.0-NN-amd64-unsigned an apt configuration knows.
newest() { # APT_CONFIG VER
	${1:+env APT_CONFIG=$1} apt-cache search --names-only "^linux-image-$2\\.0-[0-9]+-amd64-unsigned\$" |
		awk '{ print $1 }' | sort -V | tail -1
}

# KERNEL -> a .deb or a directory for kernel-vm.sh (downloaded once, then cached).
resolve() {
	local k=$1 conf=/etc/apt/apt.conf pkg deb
	case $k in
	*.deb | */*) echo "$k"; return ;;
	5.10) conf=$(bullseye_apt) || return 1; pkg=$(newest "$conf" 5.10) ;;
	6.1) conf=""; pkg=$(newest "" 6.1) ;;
	linux-image-5.10.*) conf=$(bullseye_apt) || return 1; pkg=$k ;;
	*) conf=""; pkg=$k ;;
	esac
	[ -n "$pkg" ] || { echo "no Debian package found for kernel $k" >&2; return 1; }
	deb=$(ls "$KVM_HOME/debs/${pkg}"_*.deb 2>/dev/null | tail -1)
	if [ -z "$deb" ]; then
		echo "test-kernels: downloading $pkg" >&2
		(cd "$KVM_HOME/debs" && if [ -n "$conf" ]; then APT_CONFIG=$conf apt-get download -qq -o APT::Sandbox::User=root "$pkg"
			else apt-get download -qq -o APT::Sandbox::User=root "$pkg"; fi) >&2 || return 1
		deb=$(ls "$KVM_HOME/debs/${pkg}"_*.deb 2>/dev/null | tail -1)
	fi
	[ -n "$deb" ] && echo "$deb"
}

for f in "$BUILD/l4split" "$BUILD/tests/datapath" "$BUILD/tests/dp-snat" "$BUILD/tests/l4s-traffic"; do
	[ -x "$f" ] || { echo "Error: $f is missing: run 'make test-kernels' (it builds them)" >&2; exit 1; }
done

pass=0
fail=0
summary=()
for k in "${KERNELS[@]}"; do
	echo "== kernel $k"
	out=$(mktemp -d "$KVM_HOME/out.XXXXXX")
	if ! src=$(resolve "$k"); then
		echo "not ok - kernel $k: fetching its package failed"
		fail=$((fail + 1))
		summary+=("kernel $k: 0 passed, 1 failed (not fetched)")
		continue
	fi
	KVM_OUT=$out KVM_NICE=${KVM_NICE:-10} scripts/kernel-vm.sh "$src" \
		"BUILD=$BUILD tests/kernels/guest.sh" >"$out/log" 2>"$out/vm.stderr"
	rc=$?
	cat "$out/log"
	p=$(grep -c '^ok ' "$out/log")
	f=$(grep -c '^not ok ' "$out/log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - kernel $k: the guest exited with status $rc"
		tail -n 20 "$out/vm.stderr"
		f=1
	fi
	kver=$(sed -n 's/^===KVM-READY \([^ ]*\) .*/\1/p' "$out/console.log" 2>/dev/null | head -1)
	ready=$(sed -n 's/^ready_s=//p' "$out/timing" 2>/dev/null)
	cmd_s=$(sed -n 's/^cmd_s=//p' "$out/timing" 2>/dev/null)
	line="kernel $k (${kver:-?}): $p passed, $f failed (boot ${ready:-?} s, tests ${cmd_s:-?} s)"
	echo "   $line"
	summary+=("$line")
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$f" -eq 0 ]; then rm -rf "$out"; else echo "   (console, dmesg: $out)"; fi
done
printf '%s\n' "${summary[@]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
