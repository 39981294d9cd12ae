#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# l4split's copy of the kernel-vm harness (used by scripts/test-kernels.sh, make test-kernels).
# Run one command on another kernel, without KVM: boot KERNEL under qemu TCG with this
# machine's root filesystem as the guest's root (host / shared read-only over 9p, a
# copy-on-write overlay in guest RAM on top, like virtme), run COMMAND as root in the
# current directory, power off. The command's output goes to stdout and OUT/output, its
# exit code is run.sh's exit code. Nothing the guest writes reaches the host except OUT.
#
# Usage: run.sh [-i] KERNEL 'COMMAND'
#   KERNEL  a directory made by `dpkg -x linux-image-*.deb DIR` (boot/vmlinuz-*,
#           lib/modules/VER), a linux-image .deb file, or a Debian package name such as
#           linux-image-6.1.0-57-amd64-unsigned (apt-get download + extract, cached)
#   -i      interactive shell on the serial console instead of COMMAND
# Environment:
#   KVM_HOME=/var/cache/l4split-kernels   cache (kernels/, debs/, initramfs/) and default output root
#   KVM_OUT             output dir (default $KVM_HOME/out/run-STAMP): cmd, output, rc,
#                       console.log, dmesg, timing; mounted read-write at the same path
#   KVM_MEM=3G KVM_SMP=2 KVM_TIMEOUT=1800 (s)   KVM_NICE=0 (19 when sharing the CPUs)
#   KVM_RW="DIR ..."    host directories the guest may write (9p, same path)
#   KVM_APPEND          extra kernel arguments     KVM_VERBOSE=1  boot messages on stderr
# Guest: /proc /sys /dev /dev/pts /dev/shm, tmpfs /run (empty), bpffs /sys/fs/bpf,
# cgroup2 /sys/fs/cgroup, debugfs, tracefs; /lib/modules is the kernel's own (modprobe
# and module autoload work); lo up; everything else is the host's files, writable
# copy-on-write (lost at power-off). Needs root and qemu-system-x86, busybox-static,
# kmod (installed with apt-get when missing).
set -euo pipefail
{ # the whole script is read before it runs: editing it meanwhile is safe

KVM_HOME=${KVM_HOME:-/var/cache/l4split-kernels}
KVM_MEM=${KVM_MEM:-3G}
KVM_SMP=${KVM_SMP:-2}
KVM_TIMEOUT=${KVM_TIMEOUT:-1800}
KVM_NICE=${KVM_NICE:-0}
KVM_RW=${KVM_RW:-}
KVM_APPEND=${KVM_APPEND:-}
KVM_VERBOSE=${KVM_VERBOSE:-0}

die() { echo "run.sh: $*" >&2; exit 125; }
log() { echo "kvm: $*" >&2; }

interactive=0
if [ "${1:-}" = -i ]; then interactive=1; shift; fi
[ $# -ge 1 ] || { sed -n '4,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
KERNEL=$1
CMD=${2:-}
[ "$interactive" = 1 ] || [ -n "$CMD" ] || die "no COMMAND (or -i)"
[ "$(id -u)" -eq 0 ] || die "run as root"

# Host tools ----------------------------------------------------------------------
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need="$need busybox-static"
command -v depmod >/dev/null || need="$need kmod"
if [ -n "$need" ]; then
	log "installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
BUSYBOX=/bin/busybox

# Kernel --------------------------------------------------------------------------
mkdir -p "$KVM_HOME"/{kernels,debs,initramfs,out}
extract_deb() { # DEB -> prints the extracted dir
	local d
	d="$KVM_HOME/kernels/$(basename "$1" .deb)"
	if [ ! -d "$d" ]; then
		log "extracting $(basename "$1")"
		dpkg -x "$1" "$d.tmp" && mv "$d.tmp" "$d"
	fi
	echo "$d"
}
if [ -d "$KERNEL" ]; then
	KDIR=$(readlink -f "$KERNEL")
elif [ -f "$KERNEL" ] && [[ $KERNEL == *.deb ]]; then
	KDIR=$(extract_deb "$(readlink -f "$KERNEL")")
elif [[ $KERNEL =~ ^linux-image-[A-Za-z0-9.+~-]+$ ]]; then
	deb=$(ls "$KVM_HOME"/debs/"${KERNEL}"_*.deb 2>/dev/null | tail -1 || true)
	if [ -z "$deb" ]; then
		log "downloading $KERNEL"
		(cd "$KVM_HOME/debs" && apt-get download "$KERNEL" >/dev/null 2>&1) ||
			(apt-get update -qq && cd "$KVM_HOME/debs" && apt-get download "$KERNEL" >/dev/null) ||
			die "apt-get download $KERNEL failed (apt-cache search linux-image- lists the names)"
		deb=$(ls "$KVM_HOME"/debs/"${KERNEL}"_*.deb | tail -1)
	fi
	KDIR=$(extract_deb "$deb")
else
	die "KERNEL '$KERNEL': not a directory, a .deb or a linux-image-* package name"
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* "$KDIR"/vmlinuz "$KDIR"/bzImage "$KDIR"/arch/x86/boot/bzImage 2>/dev/null | head -1 || true)
[ -n "$VMLINUZ" ] || die "no boot/vmlinuz-* (or bzImage) in $KDIR"
MODDIR=$(ls -d "$KDIR"/lib/modules/*/ 2>/dev/null | head -1 || true)
MODDIR=${MODDIR%/}
KVER=${MODDIR##*/}
[ -n "$KVER" ] || KVER=$(basename "$VMLINUZ" | sed 's/^vmlinuz-//')
KCONFIG=$(ls "$KDIR"/boot/config-* "$KDIR"/.config 2>/dev/null | head -1 || true)
if [ -n "$KCONFIG" ]; then
	for c in NET_9P NET_9P_VIRTIO 9P_FS OVERLAY_FS VIRTIO_PCI DEVTMPFS; do
		grep -Eq "^CONFIG_$c=[ym]" "$KCONFIG" ||
			die "$(basename "$KCONFIG") has no CONFIG_$c: this harness needs 9p over virtio-pci and overlayfs (Debian's cloud-amd64 kernels lack 9p: use the -amd64 flavour)"
	done
fi
if [ -n "$MODDIR" ] && { [ ! -s "$MODDIR/modules.dep" ] || [ "$MODDIR/modules.order" -nt "$MODDIR/modules.dep" ]; }; then
	depmod -b "$KDIR" "$KVER"
fi

# Initramfs: busybox, the modules for virtio-pci + 9p + overlay, /init -----------------
read -r -d '' INIT <<'EOF' || true
#!/bin/busybox sh
# kernel-vm stage 1: load the 9p modules, mount host / read-only under a tmpfs overlay,
# switch to it and run stage 2 as PID 1.
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "kvm-init: $*"; echo "===KVM-CMD-END rc=125==="; poweroff -f; sleep 10; }
while read -r m; do
	[ -n "$m" ] && { insmod "/mods/$m" || echo "kvm-init: insmod $m failed"; }
done </mods/list
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower ||
	fail "mounting the host root over 9p failed"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "overlay mount failed"
mkdir -p /newroot/.kvm
cp /bin/busybox /stage2 /newroot/.kvm/
for d in dev proc sys; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /.kvm/busybox sh /.kvm/stage2
EOF
read -r -d '' STAGE2 <<'EOF' || true
# kernel-vm stage 2, PID 1 in the overlay root: the usual mounts, then the command.
BB=/.kvm/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	LANG=C.UTF-8 SHELL=/bin/bash TERM=${TERM:-linux}
arg() { $BB sed -n "s/.*kvmh\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
OUT=$(arg out) CWD=$(arg cwd) MODS=$(arg mods) RW=$(arg rw) MODE=$(arg mode)
m() { $BB mount "$@" || echo "kvm-init: mount $* failed"; }
m -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
$BB mkdir -p /run/lock /run/netns /dev/pts /dev/shm /dev/mqueue
$BB ln -sfn /proc/self/fd /dev/fd
for i in 0:stdin 1:stdout 2:stderr; do $BB ln -sfn "/proc/self/fd/${i%:*}" "/dev/${i#*:}"; done
m -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
m -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
m -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
m -t bpf -o mode=0700 bpffs /sys/fs/bpf
m -t debugfs debugfs /sys/kernel/debug
m -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
[ -n "$MODS" ] && $BB mkdir -p /lib/modules && m --bind "$MODS" /lib/modules
m -t 9p -o trans=virtio,version=9p2000.L,msize=262144 kvmout "$OUT"
i=0
for d in $(echo "$RW" | $BB tr ',' ' '); do
	m -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "kvmrw$i" "$d"
	i=$((i + 1))
done
$BB hostname kvm-guest
$BB ip link set lo up
echo 4 >/proc/sys/kernel/printk
read -r up _ </proc/uptime
echo "$up" >"$OUT/boot-uptime"
echo "===KVM-READY $($BB uname -r) uptime=$up==="
cd "$CWD" 2>/dev/null || cd /
export KVM_OUT="$OUT"
echo "===KVM-CMD-START==="
if [ "$MODE" = interactive ]; then
	$BB setsid $BB cttyhack /bin/bash -l
else
	/bin/bash "$OUT/cmd" </dev/null
fi
rc=$?
read -r up _ </proc/uptime
echo "$up" >"$OUT/end-uptime"
echo "===KVM-CMD-END rc=$rc==="
$BB dmesg >"$OUT/dmesg" 2>&1
echo "$rc" >"$OUT/rc"
$BB sync
$BB poweroff -f
EOF

mods_list() { # module file paths (deps first, once) for the boot-time modules
	[ -n "$MODDIR" ] || return 0
	modprobe -d "$KDIR" -S "$KVER" -a --show-depends virtio_pci 9pnet_virtio 9p overlay 2>/dev/null |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}
key=$( { echo "$KVER $VMLINUZ"; echo "$INIT"; echo "$STAGE2"; mods_list; md5sum "$BUSYBOX"; } | md5sum | cut -c1-12)
INITRD="$KVM_HOME/initramfs/$KVER-$key.cpio.gz"
if [ ! -s "$INITRD" ]; then
	log "building $(basename "$INITRD")"
	t=$(mktemp -d "$KVM_HOME/initramfs/build.XXXXXX")
	mkdir -p "$t/bin" "$t/mods" "$t/dev"
	mknod -m 600 "$t/dev/console" c 5 1
	cp "$BUSYBOX" "$t/bin/busybox"
	printf '%s\n' "$INIT" >"$t/init"
	printf '%s\n' "$STAGE2" >"$t/stage2"
	chmod 755 "$t/init"
	: >"$t/mods/list"
	for f in $(mods_list); do
		b=$(basename "$f")
		case $f in
		*.ko.xz) xz -dc "$f" >"$t/mods/${b%.xz}"; b=${b%.xz} ;;
		*.ko.zst) zstd -qdc "$f" >"$t/mods/${b%.zst}"; b=${b%.zst} ;;
		*.ko.gz) gzip -dc "$f" >"$t/mods/${b%.gz}"; b=${b%.gz} ;;
		*) cp "$f" "$t/mods/$b" ;;
		esac
		echo "$b" >>"$t/mods/list"
	done
	(cd "$t" && find . | sed 's,^\./,,; /^\.$/d' | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD.tmp")
	mv "$INITRD.tmp" "$INITRD"
	rm -rf "$t"
fi

# Run -----------------------------------------------------------------------------
OUT=${KVM_OUT:-$KVM_HOME/out/run-$(date -u +%Y%m%dT%H%M%SZ)-$$}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
rm -f "$OUT"/{rc,output,console.log,dmesg,boot-uptime,end-uptime,timing}
CWD=$(pwd -P)
printf '%s\n' "$CMD" >"$OUT/cmd"
for p in "$OUT" "$CWD" "$KDIR"; do
	case $p in *[[:space:]]*) die "paths with spaces are not supported: '$p'" ;; esac
done

shares=(-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
	-device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
	-fsdev "local,id=kvmout,path=$OUT,security_model=none,multidevs=remap"
	-device "virtio-9p-pci,fsdev=kvmout,mount_tag=kvmout")
rw=""
i=0
for d in $KVM_RW; do
	d=$(readlink -f "$d")
	[ -d "$d" ] || die "KVM_RW: $d is not a directory"
	shares+=(-fsdev "local,id=kvmrw$i,path=$d,security_model=none,multidevs=remap"
		-device "virtio-9p-pci,fsdev=kvmrw$i,mount_tag=kvmrw$i")
	rw="$rw${rw:+,}$d"
	i=$((i + 1))
done
append="console=ttyS0 rdinit=/init panic=-1 kvmh.out=$OUT kvmh.cwd=$CWD"
[ -n "$MODDIR" ] && append="$append kvmh.mods=$(dirname "$MODDIR")"
[ -n "$rw" ] && append="$append kvmh.rw=$rw"
[ "$interactive" = 1 ] && append="$append kvmh.mode=interactive"
[ "$KVM_VERBOSE" = 1 ] || append="$append quiet"
append="$append $KVM_APPEND"

serial=(-serial stdio)
stdin=/dev/null
if [ "$interactive" = 1 ]; then serial=(-serial mon:stdio); stdin=/dev/stdin; fi
log "kernel $KVER ($VMLINUZ), ${KVM_SMP} vCPU TCG, $KVM_MEM, out $OUT"
start=$EPOCHREALTIME
set +e
nice -n "$KVM_NICE" timeout -k 10 "$KVM_TIMEOUT" qemu-system-x86_64 \
	-nodefaults -no-user-config -machine q35 -accel tcg,thread=multi -cpu max \
	-smp "$KVM_SMP" -m "$KVM_MEM" -display none "${serial[@]}" -no-reboot \
	-kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" \
	"${shares[@]}" <"$stdin" 2>"$OUT/qemu.stderr" |
	{
		in_cmd=0
		while IFS= read -r line || [ -n "$line" ]; do
			line=${line%$'\r'}
			printf '%s\n' "$line" >>"$OUT/console.log"
			case $line in
			"===KVM-READY "*)
				echo "ready_s=$(echo "$EPOCHREALTIME $start" | awk '{ printf "%.2f", $1 - $2 }')" >>"$OUT/timing"
				[ "$KVM_VERBOSE" = 1 ] && printf '%s\n' "$line" >&2
				continue ;;
			"===KVM-CMD-START===") in_cmd=1; continue ;;
			"===KVM-CMD-END "*) in_cmd=0; [ "$KVM_VERBOSE" = 1 ] && printf '%s\n' "$line" >&2; continue ;;
			esac
			if [ "$in_cmd" = 1 ]; then
				printf '%s\n' "$line"
				printf '%s\n' "$line" >>"$OUT/output"
			elif [ "$KVM_VERBOSE" = 1 ]; then
				printf '%s\n' "$line" >&2
			fi
		done
	}
qrc=${PIPESTATUS[0]}
set -e
total=$(echo "$EPOCHREALTIME $start" | awk '{ printf "%.2f", $1 - $2 }')
echo "total_s=$total" >>"$OUT/timing"
ready=$(sed -n 's/^ready_s=//p' "$OUT/timing" 2>/dev/null || true)
if [ -s "$OUT/rc" ]; then
	rc=$(cat "$OUT/rc")
	cmd_s=$(awk '{ getline e < "'"$OUT/end-uptime"'"; printf "%.2f", e - $1 }' "$OUT/boot-uptime" 2>/dev/null || echo "?")
	echo "cmd_s=$cmd_s" >>"$OUT/timing"
	log "kernel $KVER: booted in ${ready:-?} s, command ${cmd_s} s, total $total s, rc=$rc (out: $OUT)"
	exit "$rc"
fi
log "the guest did not finish (qemu exit $qrc$([ "$qrc" = 124 ] && echo ", timeout ${KVM_TIMEOUT}s")); last console lines:"
tail -n 25 "$OUT/console.log" >&2 2>/dev/null || true
cat "$OUT/qemu.stderr" >&2 2>/dev/null || true
exit 125
}
