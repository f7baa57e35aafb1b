/**
 * The two init stages of the kernel-test VM, as shell text packed into the initramfs.
 *
 * Stage 1 (/init in the initramfs, busybox): loads the virtio/9p/overlay modules, mounts the host's
 * root read-only over 9p (tag "hostroot") under a tmpfs overlay, and switch_roots into it. switch_root
 * (not chroot) matters: the kernel autoloads IPVS schedulers with the root's /sbin/modprobe, which
 * must be the host's, next to the host's /lib/modules.
 *
 * Stage 2 (pid 1 in the overlay root): mounts devpts/shm/run, the control share ("lvsdctl": the
 * script, its environment, the exit-code file) and the optional writable output share ("lvsdout"),
 * brings up lo, loads ip_vs, runs the script with bash, records the exit code and powers off.
 *
 * Marker lines on the console ("@@LVSD-VM@@ ...") let the host tell boot failure, start and end apart.
 */

export const MARKER = '@@LVSD-VM@@';

const NINEP = 'trans=virtio,version=9p2000.L,msize=512000';

export const STAGE1 = `#!/bin/busybox sh
# lvsd kernel-test VM, stage 1 (initramfs)
/bin/busybox mkdir -p /proc /sys /dev /lower /rw /newroot
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {
  echo "${MARKER} BOOTFAIL stage1: $*"
  poweroff -f
  echo o > /proc/sysrq-trigger
  sleep 30
}
echo "${MARKER} STAGE1 $(cut -d' ' -f1 /proc/uptime)"
while read -r m; do
  [ -n "$m" ] || continue
  insmod "/lvsd/modules/$m.ko" || fail "insmod $m"
done < /lvsd/modules.list
mount -t 9p -o ${NINEP},ro,cache=loose hostroot /lower || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=0755 rw /rw || fail "cannot mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "cannot mount the overlay root"
mkdir -p /newroot/.lvsd-vm/ctl || fail "overlay root is not writable"
cp /bin/busybox /lvsd/stage2 /newroot/.lvsd-vm/ || fail "cannot copy stage 2"
for d in dev proc sys; do
  mkdir -p /newroot/$d
  mount --move /$d /newroot/$d || fail "cannot move /$d"
done
exec switch_root /newroot /.lvsd-vm/busybox sh /.lvsd-vm/stage2
fail "switch_root failed"
`;

export const STAGE2 = `# lvsd kernel-test VM, stage 2 (pid 1 in the overlay of the host root)
BB=/.lvsd-vm/busybox
CTL=/.lvsd-vm/ctl
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
fail() {
  echo "${MARKER} BOOTFAIL stage2: $*"
  $BB sync
  $BB poweroff -f
  echo o > /proc/sysrq-trigger
  $BB sleep 30
}
$BB mkdir -p /dev/pts /dev/shm /run /tmp
$BB mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
$BB mount -t tmpfs -o mode=1777 shm /dev/shm
$BB mount -t tmpfs -o mode=0755 run /run
$BB chmod 1777 /tmp
$BB ln -sf /proc/self/fd /dev/fd
$BB ln -sf /proc/self/fd/0 /dev/stdin
$BB ln -sf /proc/self/fd/1 /dev/stdout
$BB ln -sf /proc/self/fd/2 /dev/stderr
$BB mount -t 9p -o ${NINEP} lvsdctl $CTL || fail "cannot mount the control share"
. $CTL/vm.env
if [ -n "$LVSD_VM_OUT" ]; then
  $BB mkdir -p "$LVSD_VM_OUT"
  $BB mount -t 9p -o ${NINEP} lvsdout "$LVSD_VM_OUT" || fail "cannot mount the output share at $LVSD_VM_OUT"
fi
$BB hostname lvsd-vm
$BB ip link set lo up || fail "cannot bring up lo"
modprobe ip_vs || fail "modprobe ip_vs failed"
[ -e /proc/net/ip_vs ] || fail "ip_vs loaded but /proc/net/ip_vs is missing"
echo "${MARKER} BEGIN $($BB cut -d' ' -f1 /proc/uptime)"
$BB env -i HOME=/root PATH="$PATH" TERM=dumb NO_COLOR=1 LANG=C.UTF-8 USER=root LOGNAME=root \\
  $BB sh -c ". $CTL/script.env; cd \\"\\$LVSD_REPO\\" || exit 126; exec bash $CTL/script.sh" </dev/null
rc=$?
echo "$rc" > $CTL/exitcode
echo "${MARKER} END $rc $($BB cut -d' ' -f1 /proc/uptime)"
$BB sync
$BB poweroff -f
echo o > /proc/sysrq-trigger
$BB sleep 30
`;
