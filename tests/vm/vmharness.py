#!/usr/bin/python3
"""Boot a Debian 6.1 guest under qemu (TCG) with the host's root as a read-only 9p lower layer.

Reusable by any VM test (node boot, kernel matrix). A test tool, hence Python (stdlib only).

The guest root is overlay(upper = tmpfs seeded from a host directory, lower = host root over 9p).
Two modes:
  run      the initramfs mounts the overlay, mounts proc/sys/dev/tmp/bpffs/tracefs/securityfs in
           it, runs one command chrooted there (output on the serial console), prints
           "VMTEST EXIT <rc>" and powers off. No systemd. Fast (~10 s).
  systemd  the initramfs mounts the overlay and `exec switch_root /newroot /lib/systemd/systemd`:
           systemd is PID 1 with the real system bus. Whatever the seed enables runs; a test unit
           reports on /dev/ttyS0 and powers off (see install_report_unit()).

Facts this relies on (measured, /work/shared/ENVIRONMENT.md): KVM hangs on the CI machine, so only
`-accel tcg`; Debian's linux-image-amd64 has virtio/9p/overlay as modules, loaded by our initramfs.

CLI (for ad-hoc use and the later kernel matrix):
  vmharness.py run  [--kernel VER] [--seed DIR] [--out DIR] [--mem MiB] [--cache DIR] [--timeout S] -- CMD...
  vmharness.py boot [--kernel VER] --seed DIR [--cache DIR] [--timeout S]   (systemd mode)
"""
import argparse
import glob
import gzip
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

MODULES = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
           "netfs", "fscache", "9pnet", "9pnet_virtio", "9p", "overlay",
           # Networking the integration suite needs: the kernel cannot autoload modules in the
           # chroot (its modprobe helper runs in the initramfs). No dependencies of their own.
           "veth", "sch_ingress", "cls_bpf"]
QEMU = "qemu-system-x86_64"
BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"]

INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
die() { echo "VMTEST INIT-FAIL $*"; poweroff -f; sleep 5; }
for m in $(cat /modules.order); do
  insmod /lib/modules/$m.ko || die "insmod $m"
done
arg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline | head -n1; }
mode=$(arg vmtest.mode); seed=$(arg vmtest.seed)
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 host /lower || die "mount 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw || die "mount tmpfs"
mkdir -p /rw/upper /rw/work
# The seed (its own 9p share, tag "seed") is a read-only layer between the upper (tmpfs) and the
# host root: nothing is copied (a debug build of the daemon is ~27 MB; copying it over 9p cost
# ~15 s). It cannot be a path inside /lower: overlayfs refuses overlapping layers (ELOOP).
if [ -n "$seed" ]; then
  mkdir -p /seed
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 seed /seed || die "mount seed"
  mount -t overlay overlay -o "lowerdir=/seed:/lower,upperdir=/rw/upper,workdir=/rw/work" /newroot || die "mount overlay"
else
  mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || die "mount overlay"
fi
# The host root may be a container's (/.dockerenv): systemd would then believe it runs in docker,
# ignore the kernel command line and start console-getty. Hide those markers in the guest.
for f in /.dockerenv /run/.containerenv; do
  [ -e "/newroot$f" ] && rm -f "/newroot$f"
done
# Fresh /tmp and /var/tmp: otherwise systemd-tmpfiles --boot deletes the host's /tmp contents one
# by one through the overlay (whiteouts over 9p, tens of seconds).
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount -t tmpfs -o mode=1777 tmpfs /newroot/var/tmp
echo "VMTEST INIT root ready mode=$mode uptime=$(cut -d' ' -f1 /proc/uptime)"
if [ "$mode" = systemd ]; then
  umount /proc /sys
  umount /dev 2>/dev/null || mount --move /dev /newroot/dev
  exec switch_root /newroot /lib/systemd/systemd --unit=multi-user.target --show-status=error
fi
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mount -t bpf bpf /newroot/sys/fs/bpf
mount -t tracefs tracefs /newroot/sys/kernel/tracing
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
# securityfs, as systemd mounts it: /sys/kernel/security/lsm lists the active LSMs (the lsm
# program type's probe reads it).
mount -t securityfs securityfs /newroot/sys/kernel/security
# Module autoload (tc's clsact, cls_bpf, veth...): the kernel runs its modprobe helper in the
# initramfs root, where only busybox lives; the host root's kmod knows the guest's modules.
printf '#!/bin/busybox sh\nexec chroot /newroot /sbin/modprobe "$@"\n' > /bin/vmtest-modprobe
chmod 755 /bin/vmtest-modprobe
echo /bin/vmtest-modprobe > /proc/sys/kernel/modprobe
# A writable share (tag "out") for results: mounted at /vmtest-out in the chroot.
if [ "$(arg vmtest.out)" = 1 ]; then
  mkdir -p /newroot/vmtest-out
  mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=512000 out /newroot/vmtest-out || die "mount out"
fi
chroot /newroot /bin/sh /vmtest-run.sh
echo "VMTEST EXIT $?"
poweroff -f
"""


class VMError(Exception):
    """The VM cannot run here (missing kernel, qemu, busybox, modules): a skip, not a failure."""


def find_kernel(version=None):
    """Return (version, vmlinuz path, modules dir) of a Debian 6.1 kernel (or the given version)."""
    cands = sorted(glob.glob("/boot/vmlinuz-*"))
    if version:
        cands = [c for c in cands if c.endswith("-" + version)]
    else:
        cands = [c for c in cands if re.match(r".*/vmlinuz-6\.1\.", c)] or cands
    for c in reversed(cands):
        ver = c.split("vmlinuz-", 1)[1]
        mdir = "/lib/modules/" + ver
        if os.path.isdir(mdir):
            return ver, c, mdir
    raise VMError("no kernel image /boot/vmlinuz-%s with /lib/modules (install linux-image-amd64)"
                  % (version or "6.1.*"))


def lsm_list(kver):
    """The guest kernel's default LSM list (CONFIG_LSM of /boot/config-KVER) with "bpf" added when
    missing, for its lsm= parameter: the lsm program type needs the bpf LSM active, and lsm= alone
    would drop every LSM it does not name, so the others are kept. None without a config file.
    (Debian's 6.1 already ends its list with bpf; the explicit lsm= keeps the guest's LSMs
    independent of how a kernel of the matrix was configured.)"""
    try:
        with open("/boot/config-%s" % kver) as f:
            m = re.search(r'^CONFIG_LSM="([^"]*)"', f.read(), re.M)
    except OSError:
        return None
    if not m:
        return None
    names = [n for n in m.group(1).split(",") if n]
    if "bpf" not in names:
        names.append("bpf")
    return ",".join(names)


def _cpio_newc(entries):
    """entries: list of (name, mode, data bytes or symlink target). Returns a newc archive."""
    out = io.BytesIO()
    ino = 1

    def hdr(name, mode, size, nlink=1):
        nonlocal ino
        nb = name.encode() + b"\0"
        h = b"070701" + b"".join(b"%08X" % v for v in (
            ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(nb), 0))
        ino += 1
        out.write(h + nb)
        out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))

    for name, mode, data in entries:
        hdr(name, mode, len(data))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
    hdr("TRAILER!!!", 0, 0)
    return out.getvalue()


def build_initramfs(cache_dir, kver, mdir):
    """Build (or reuse) <cache_dir>/initramfs-<kver>.cpio.gz: busybox-static + modules + /init."""
    os.makedirs(cache_dir, exist_ok=True)
    busybox = next((b for b in BUSYBOX_CANDIDATES if os.path.exists(b)), None)
    if not busybox:
        raise VMError("busybox not found (install busybox-static)")
    with open(busybox, "rb") as f:
        bb = f.read()
    if b"ld-linux" in bb[:4096] or subprocess.run(["ldd", busybox], capture_output=True).returncode == 0:
        raise VMError("%s is dynamically linked (install busybox-static)" % busybox)
    import hashlib
    key = hashlib.sha256(INIT_SCRIPT.encode() + bb[:65536] + kver.encode() + " ".join(MODULES).encode()).hexdigest()[:12]
    path = os.path.join(cache_dir, "initramfs-%s-%s.cpio.gz" % (kver, key))
    if os.path.exists(path):
        return path
    entries = []
    for d in ["bin", "dev", "proc", "sys", "lib", "lib/modules", "lower", "rw", "newroot", "tmp"]:
        entries.append((d, stat.S_IFDIR | 0o755, b""))
    entries.append(("bin/busybox", stat.S_IFREG | 0o755, bb))
    entries.append(("init", stat.S_IFREG | 0o755, INIT_SCRIPT.encode()))
    order = []
    for m in MODULES:
        found = glob.glob(os.path.join(mdir, "kernel", "**", m + ".ko"), recursive=True)
        if not found:
            if glob.glob(os.path.join(mdir, "kernel", "**", m + ".ko.*"), recursive=True):
                raise VMError("module %s is compressed; this initramfs needs plain .ko" % m)
            # Built in (=y) in this kernel: nothing to load.
            continue
        with open(found[0], "rb") as f:
            entries.append(("lib/modules/%s.ko" % m, stat.S_IFREG | 0o644, f.read()))
        order.append(m)
    entries.append(("modules.order", stat.S_IFREG | 0o644, ("\n".join(order) + "\n").encode()))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.compress(_cpio_newc(entries), 6))
    os.rename(tmp, path)
    return path


# Host directories the guest does not see: it mounts fresh tmpfs there (see INIT_SCRIPT).
GUEST_PRIVATE_DIRS = ["/tmp", "/var/tmp", "/run", "/dev/shm"]


def hidden_in_guest(path):
    """The guest-private directory that hides host `path` from the guest, or None."""
    path = os.path.realpath(path)
    for d in GUEST_PRIVATE_DIRS:
        if path == d or path.startswith(d + "/"):
            return d
    return None


def check_host():
    if not shutil.which(QEMU):
        raise VMError("%s not found (install qemu-system-x86)" % QEMU)


# A guest kernel that reports one of these has wedged for good: the soft-lockup watchdog has seen a
# CPU stuck for minutes (a short lockup can be TCG scheduling noise and recovers), or it panicked.
_WEDGED = re.compile(rb"soft lockup - CPU#\d+ stuck for (\d+)s|Kernel panic - not syncing")
WEDGED_AFTER_S = 240      # a soft lockup this long is a hang, not noise
SILENCE_LIMIT_S = 1200    # no console output at all for this long: the guest is gone


def kernel_trouble(text, context=40):
    """The first kernel trouble report in a serial log (soft lockup, RCU stall, hung task, BUG,
    Oops, panic) with up to `context` lines after it, or "" if there is none."""
    lines = text.splitlines()
    pat = re.compile(r"BUG: soft lockup|rcu: INFO: .*detected stalls|INFO: task .* blocked for more|"
                     r"BUG: |Oops: |Kernel panic|general protection fault|WARNING: CPU")
    for i, l in enumerate(lines):
        if pat.search(l):
            return "\n".join(x.rstrip("\r") for x in lines[i:i + context])
    return ""


def trouble_summary(text, frames=12):
    """One line for the first kernel trouble report: where the CPU was (RIP) and the innermost
    `frames` functions of its call trace (frames marked "?" are guesses and left out), e.g.
    "RIP smp_call_function_many_cond+0x13a/0x3e0; trace: on_each_cpu_cond_mask < ...".
    "" when there is no report. Printed last, so that a log cut to its tail still says it."""
    report = kernel_trouble(text, context=80).splitlines()
    if not report:
        return ""
    rip, calls, in_trace = "", [], False
    frame = re.compile(r"^(?:\[\s*[\d.]+\]\s*)?(\? )?([\w.]+\+0x[0-9a-f]+/0x[0-9a-f]+)")
    for l in report[1:]:
        body = re.sub(r"^\[\s*[\d.]+\]\s*", "", l.strip())
        if not rip:
            m = re.match(r"RIP: [0-9a-f]{4}:(\S+)", body)
            if m:
                rip = m.group(1)
        if body.startswith("Call Trace:"):
            in_trace = True
            continue
        if in_trace:
            if body.startswith("</TASK>") or body.startswith("RIP: ") or not body:
                if calls:
                    break
                continue
            m = frame.match(body)
            if m and not m.group(1):
                calls.append(m.group(2))
            if len(calls) >= frames:
                break
    first = re.sub(r"^\[\s*[\d.]+\]\s*", "", report[0].strip())
    parts = [first]
    if rip:
        parts.append("RIP " + rip)
    if calls:
        parts.append("trace: " + " < ".join(calls))
    return "; ".join(parts)


def running_test(text):
    """The gtest test that had started but not finished when the output ends ("" if none)."""
    current = ""
    for l in text.splitlines():
        m = re.match(r"\[ RUN      \] (\S+)", l)
        if m:
            current = m.group(1)
        elif re.match(r"\[ +(OK|FAILED|SKIPPED) +\] ", l):
            current = ""
    return current


def boot(mode, seed=None, run_cmd=None, kernel=None, cache_dir=None, timeout=240, log_path=None,
         mem=1024, smp=2, extra_append="", done_marker=None, echo=False, out_dir=None):
    """Boot the guest and return (serial output, elapsed seconds, timed_out, marks).

    out_dir (run mode): a host directory shared writable over 9p, /vmtest-out in the guest, for
    results that must come back (files appear owned by root on the host).

    marks maps every line prefix 'VMTEST X' seen to the time (s since qemu start) it first arrived,
    for timings. When done_marker is seen, the VM gets 30 s more to power off by itself.
    The run ends early, with marks["WEDGED"] set to the reason, when the guest kernel panics, reports
    a CPU stuck for WEDGED_AFTER_S or more, or prints nothing for SILENCE_LIMIT_S.
    """
    check_host()
    kver, vmlinuz, mdir = find_kernel(kernel)
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "bpfman-vm-cache")
    initrd = build_initramfs(cache_dir, kver, mdir)
    tmp_seed = None
    if mode == "run":
        # The command travels as a file in the upper layer (/vmtest-run.sh), not on the cmdline.
        if not seed:
            tmp_seed = seed = tempfile.mkdtemp(prefix="vmseed-")
        with open(os.path.join(seed, "vmtest-run.sh"), "w") as f:
            f.write("cd /\nexport PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" + (run_cmd or "true") + "\n")
    if seed:
        seed = os.path.abspath(seed)
        if re.search(r"[\s,]", seed):
            raise VMError("seed path must not contain spaces: %s" % seed)
    append = "console=ttyS0 panic=-1 quiet vmtest.mode=%s" % mode
    lsms = lsm_list(kver)
    if lsms:
        append += " lsm=" + lsms
    if seed:
        append += " vmtest.seed=%s" % seed
    if mode == "systemd":
        # multi-user (the host's default may be graphical); only errors in systemd's status output,
        # so that the serial console stays readable for the report lines.
        append += " systemd.unit=multi-user.target systemd.show_status=error"
    if out_dir:
        out_dir = os.path.abspath(out_dir)
        if re.search(r"[\s,]", out_dir):
            raise VMError("out path must not contain spaces or commas: %s" % out_dir)
        append += " vmtest.out=1"
    if extra_append:
        append += " " + extra_append
    cmd = [QEMU, "-accel", "tcg", "-cpu", "max", "-smp", str(smp), "-m", str(mem),
           "-nographic", "-no-reboot",
           "-kernel", vmlinuz, "-initrd", initrd, "-append", append,
           "-fsdev", "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap",
           "-device", "virtio-9p-pci,fsdev=host,mount_tag=host",
           ] + ([] if not seed else [
           "-fsdev", "local,id=seed,path=%s,security_model=none,readonly=on,multidevs=remap" % seed,
           "-device", "virtio-9p-pci,fsdev=seed,mount_tag=seed"]) + ([] if not out_dir else [
           "-fsdev", "local,id=out,path=%s,security_model=none,multidevs=remap" % out_dir,
           "-device", "virtio-9p-pci,fsdev=out,mount_tag=out"]) + [
           "-nic", "none"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    buf = bytearray()
    marks = {}
    timed_out = False
    deadline = start + timeout
    logf = open(log_path, "wb") if log_path else None
    pending = b""
    last_output = start
    import select
    try:
        while True:
            r, _, _ = select.select([proc.stdout], [], [], 1.0)
            now = time.monotonic()
            if r:
                chunk = proc.stdout.read() or b""
                if not chunk and proc.poll() is not None:
                    break
                buf += chunk
                if logf:
                    logf.write(chunk)
                    logf.flush()
                if echo:
                    sys.stderr.buffer.write(chunk)
                    sys.stderr.flush()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                last_output = now
                for ln in lines:
                    w = _WEDGED.search(ln)
                    if w and "WEDGED" not in marks and (not w.group(1) or int(w.group(1)) >= WEDGED_AFTER_S):
                        marks["WEDGED"] = ln.decode(errors="replace").strip()
                        deadline = min(deadline, now + 20)  # let the trace reach the console
                    m = re.search(rb"VMTEST [A-Z-]+", ln)
                    if m:
                        marks.setdefault(m.group().decode(), now - start)
                        if done_marker and done_marker.encode() in ln:
                            deadline = min(deadline, now + 30)
            elif proc.poll() is not None:
                break
            if now - last_output > SILENCE_LIMIT_S and "WEDGED" not in marks:
                marks["WEDGED"] = "no console output for %d s" % SILENCE_LIMIT_S
                deadline = now
            if now > deadline:
                timed_out = ("VMTEST DONE" not in marks if done_marker else True) and "WEDGED" not in marks
                proc.kill()
                break
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if logf:
            logf.close()
        if tmp_seed:
            shutil.rmtree(tmp_seed, ignore_errors=True)
    return buf.decode(errors="replace"), time.monotonic() - start, timed_out, marks


def install_report_unit(seed, name, exec_start, after=(), wants=(), timeout=600):
    """Write and enable a oneshot unit in the seed that runs exec_start with its output on the
    serial console, then powers the guest off (whatever the result)."""
    unit = """[Unit]
Description=VM test %(name)s
After=multi-user.target %(after)s
%(wants)s

[Service]
Type=oneshot
ExecStart=%(exec)s
ExecStopPost=/bin/systemctl poweroff -f --no-block
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=%(timeout)d

[Install]
WantedBy=multi-user.target
""" % {"name": name, "after": " ".join(after), "wants": ("Wants=" + " ".join(wants)) if wants else "", "exec": exec_start, "timeout": timeout}
    enable_unit(seed, name + ".service", unit, "multi-user.target")


def enable_unit(seed, unit, text, target):
    """Write unit file `unit` (its text) into the seed's /etc/systemd/system and enable it for
    `target`, as `systemctl enable` does for WantedBy=`target` (a relative symlink in
    `target`.wants)."""
    d = os.path.join(seed, "etc/systemd/system")
    os.makedirs(os.path.join(d, target + ".wants"), exist_ok=True)
    with open(os.path.join(d, unit), "w") as f:
        f.write(text)
    link = os.path.join(d, target + ".wants", unit)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("../" + unit, link)


# Units of the host's own installation that a throw-away test guest should not start: they only
# cost boot time (postgres, timers, getty on a tty nobody reads) or need hardware/network.
NOISY_UNITS = ["postgresql.service", "e2scrub_reap.service", "e2scrub_all.timer", "apt-daily.timer",
               "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "fstrim.timer", "man-db.timer",
               "systemd-timesyncd.service", "getty@tty1.service", "systemd-pstore.service",
               "remote-fs.target", "serial-getty@ttyS0.service", "console-getty.service", "systemd-networkd-wait-online.service"]


def mask_units(seed, units=NOISY_UNITS):
    d = os.path.join(seed, "etc/systemd/system")
    os.makedirs(d, exist_ok=True)
    for u in units:
        p = os.path.join(d, u)
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink("/dev/null", p)



def parse_report(out):
    """The guest checker's report in serial output `out` (tests/vm/guest/vmcheck.py's format):
    (report lines, passed check names, {failed check: detail}, VMTEST DONE seen)."""
    lines = [l.strip("\r") for l in out.splitlines()]
    report = [l[l.index("VMTEST"):] for l in lines if "VMTEST" in l]
    passed, failed = set(), {}
    for l in report:
        parts = l.split(" ", 2)
        if len(parts) >= 3 and parts[1] == "PASS":
            passed.add(parts[2].strip())
        elif len(parts) >= 3 and parts[1] == "FAIL":
            name, _, detail = parts[2].partition(":")
            failed[name] = detail.strip()
    done = any(l.startswith("VMTEST DONE") for l in report)
    return report, passed, failed, done


def boot_and_check(name, seed, expected, work, kernel=None, cache_dir=None, timeout=420, mem=1024,
                   verbose=False, t_start=None, t_prep=0.0):
    """Boot `seed` in systemd mode, echo the checker's report, and judge it: True only when every
    check in `expected` passed, none failed, VMTEST DONE was seen and the boot did not time out.
    On failure prints why, the guest kernel's first trouble report and the serial log's tail
    (the whole log is work/serial.log). Prints the timings (`t_start`: time.monotonic() when the
    test started; `t_prep`: seconds spent preparing the seed). Raises VMError (a skip)."""
    log = os.path.join(work, "serial.log")
    kver, _, _ = find_kernel(kernel)
    out, elapsed, timed_out, marks = boot("systemd", seed=seed, kernel=kernel, cache_dir=cache_dir,
                                          timeout=timeout, log_path=log, mem=mem,
                                          done_marker="VMTEST DONE", echo=verbose)
    report, passed, failed, done = parse_report(out)
    for l in report:
        print(l)
    lines = [l.strip("\r") for l in out.splitlines()]
    for l in lines:
        if l.startswith("journal: "):
            print(l)
    missing = [c for c in expected if c not in passed and c not in failed]
    total = time.monotonic() - (t_start if t_start is not None else time.monotonic())
    boot_s = marks.get("VMTEST INFO")
    print("timings: prepare %.1f s, qemu start -> initramfs root ready %.1f s, -> check unit running "
          "(multi-user reached) %s s, qemu total %.1f s, whole test %.1f s (kernel %s, TCG, 2 vCPU)"
          % (t_prep, marks.get("VMTEST INIT", -1), "%.1f" % boot_s if boot_s else "?", elapsed, total, kver))
    ok = done and not failed and not missing and not timed_out
    if not ok:
        if timed_out:
            print("FAIL: timed out after %.0f s" % timeout)
        if "WEDGED" in marks:
            print("FAIL: the guest kernel wedged (%s)" % marks["WEDGED"])
        trouble = kernel_trouble(out)
        if trouble:
            print("---- the guest kernel's first trouble report ----")
            print(trouble)
        if not done:
            print("FAIL: VMTEST DONE not seen")
        if missing:
            print("FAIL: checks not reported: %s" % ", ".join(missing))
        print("---- serial log tail (%s) ----" % log)
        print("\n".join(lines[-80:]))
    print("%s: %s (%d passed, %d failed)" % (name, "PASS" if ok else "FAIL", len(passed), len(failed)))
    return ok

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=["run", "boot"])
    ap.add_argument("--kernel", help="kernel version (default: newest 6.1.* in /boot)")
    ap.add_argument("--seed", help="host directory copied into the guest's overlay upper layer")
    ap.add_argument("--cache", help="initramfs cache directory")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--log", help="write the serial output here")
    ap.add_argument("--out", help="run mode: a host directory shared writable at /vmtest-out")
    ap.add_argument("--mem", type=int, default=1024, help="guest RAM in MiB (default 1024)")
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[argv.index("--") + 1:] if "--" in argv else []
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    a.cmd = cmd
    try:
        out, el, to, marks = boot("run" if a.mode == "run" else "systemd", seed=a.seed,
                                  run_cmd=" ".join(a.cmd) if a.cmd else None, kernel=a.kernel,
                                  cache_dir=a.cache, timeout=a.timeout, log_path=a.log, echo=True,
                                  mem=a.mem, out_dir=a.out,
                                  done_marker="VMTEST DONE" if a.mode == "boot" else None)
    except VMError as e:
        print("SKIP: %s" % e, file=sys.stderr)
        return 77
    print("\n[vmharness] %.1f s%s; marks: %s" % (el, " (timed out)" if to else "", marks),
          file=sys.stderr)
    if a.mode == "run":
        m = re.search(r"VMTEST EXIT (\d+)", out)
        return int(m.group(1)) if m else 1
    return 1 if to else 0


if __name__ == "__main__":
    sys.exit(main())
