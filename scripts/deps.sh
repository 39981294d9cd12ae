#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Install what l4split needs to build, test and run its demo, from Debian 12's
# packages. Quiet and quick when everything is already there.
set -eu

PKGS="clang libclang-rt-dev llvm make gcc pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev \
libjansson-dev libyajl-dev libcmocka-dev libcurl4-openssl-dev libmicrohttpd-dev libyaml-dev \
python3 python3-yaml python3-prometheus-client openssl ca-certificates \
iproute2 ethtool jq socat util-linux procps help2man man-db groff-base prometheus \
qemu-system-x86 busybox-static kmod"
# qemu-system-x86, busybox-static, kmod: the kernels group of make test (make test-kernels)
# boots Debian's 6.1 and 5.10 kernels under qemu (scripts/kernel-vm.sh).
# prometheus: test_dashboard runs the Grafana dashboard's queries against it.
# make bench also compares with kube-proxy's iptables and nftables modes.
[ "${1:-}" = bench ] && PKGS="$PKGS iptables nftables strace"
# The deploy-manifests tests render deploy/ with kubectl's kustomize. Debian 12's
# kubernetes-client (1.20) is too old for its replacements and components: kubectl comes
# from the Kubernetes packages, not from here.
command -v kubectl >/dev/null ||
	echo "Note: kubectl not found: the deploy-manifests tests need it (kubectl kustomize)" >&2

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "Error: missing Debian packages:$missing" >&2
	echo "Hint: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
