"""What the guest checkers share (tests/vm/guest/node-boot-check, rhcos-boot-check): the report
lines, busctl and bpftool wrappers, the kernel's own view of what is attached, and the
machine-config daemon's file update. Runs INSIDE the guest (Python, stdlib only), copied next to
the checker by the host side of the test.

Report format (parsed by vmharness.parse_report on the host): `VMTEST PASS <check>`,
`VMTEST FAIL <check>: <detail>`, `VMTEST INFO <text>`, and `VMTEST DONE failures=N` last.
"""
import json
import os
import subprocess
import sys
import time

SERVICE = "bpfman-reconciler.service"
BUS = ["busctl", "--system", "--json=short"]
DEST, OBJ = "io.bpfman.Reconciler1", "/io/bpfman/Reconciler1"
MGR, PROG = "io.bpfman.Reconciler1.Manager", "io.bpfman.Reconciler1.Program"
failures = 0


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def result(name, ok, detail=""):
    """Report check `name`; returns ok."""
    global failures
    if ok:
        out("VMTEST PASS %s" % name)
    else:
        failures += 1
        out("VMTEST FAIL %s: %s" % (name, str(detail).replace("\n", " | ")[:600]))
    return ok


def info(msg):
    out("VMTEST INFO %s" % msg)


def uptime():
    """Seconds since the guest kernel started (for timings in INFO lines)."""
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def run(cmd, check=False, timeout=60):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


def jrun(cmd):
    return json.loads(run(cmd, check=True).stdout)


def describe():
    """The daemon's Describe() over the system bus, parsed."""
    return json.loads(jrun(BUS + ["call", DEST, OBJ, MGR, "Describe"])["data"][0])


def prop(path, iface, name):
    return jrun(BUS + ["get-property", DEST, path, iface, name])["data"]


def path_encode(name):
    # sd_bus_path_encode: every byte outside [A-Za-z0-9] becomes _XX (lower-case hex).
    return "".join(c if c.isascii() and c.isalnum() else "_%02x" % ord(c) for c in name)


def service_show(*props, unit=SERVICE):
    p = run(["systemctl", "show", unit] + ["-p" + x for x in props], check=True)
    return dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)


def wait_active(timeout, unit=SERVICE):
    """Wait until `unit` is active: (True, "active"), or (False, its state) when it failed, loops
    in restarts (3 or more) or the timeout (s) passed."""
    t0 = time.monotonic()
    state = ""
    while time.monotonic() - t0 < timeout:
        state = run(["systemctl", "is-active", unit]).stdout.strip()
        if state == "active":
            return True, state
        if state == "failed":
            break
        restarts = service_show("NRestarts", unit=unit).get("NRestarts", "0")
        if int(restarts or 0) >= 3:  # a restart loop: no point waiting for the timeout
            return False, "%s (NRestarts=%s)" % (state, restarts)
        time.sleep(0.5)
    return False, state


def pinned_prog_id(pin_root, name):
    p = run(["bpftool", "-j", "prog", "show", "pinned", os.path.join(pin_root, name, "prog")])
    if p.returncode != 0:
        return None
    return json.loads(p.stdout).get("id")


def kernel_view(dev="lo", netns=None):
    """What the kernel shows, independently of the daemon: link prog ids, and the XDP and TC
    programs on `dev` (in network namespace `netns`, a name under /run/netns, if given)."""
    links = jrun(["bpftool", "-j", "link", "show"])
    progs = {p["id"]: p for p in jrun(["bpftool", "-j", "prog", "show"])}
    cmd = ["bpftool", "-j", "net", "show", "dev", dev]
    net = jrun((["ip", "netns", "exec", netns] if netns else []) + cmd)
    net = net[0] if isinstance(net, list) and net else (net or {})
    xdp_ids = {x.get("id") for x in net.get("xdp", [])}
    tc_ids = {x.get("id") for x in net.get("tc", [])}
    return {"link_prog_ids": {l.get("prog_id") for l in links}, "links": links,
            "progs": progs, "xdp_ids": xdp_ids, "tc_ids": tc_ids}


def attached_in_kernel(kv, ptype, kid, described=None):
    """Is program `kid` of `ptype` attached, as kernel_view `kv` shows it? (ok, why-not).
    `described`: the program as Describe() shows it; its attachments' prog_id name the XDP
    dispatcher components that libxdp loaded for it (one per attach point)."""
    components = {a.get("prog_id") for a in (described or {}).get("attachments", []) if a.get("prog_id")}
    if kid not in kv["progs"]:
        return False, "prog id %s not loaded" % kid
    if ptype in ("tracepoint", "uprobe", "uretprobe"):
        ok = kid in kv["link_prog_ids"]
        return ok, "" if ok else "no bpf link with prog_id %s" % kid
    if ptype == "xdp":
        # Alone on the interface: the XDP program is ours; behind libxdp's dispatcher (6.1 allows
        # freplace): an freplace (tracing) link carries a component loaded for our program.
        ok = bool(kv["xdp_ids"]) and (kid in kv["xdp_ids"] or bool(({kid} | components) & kv["link_prog_ids"]))
        return ok, "" if ok else "xdp: %s, links: %s" % (kv["xdp_ids"], kv["link_prog_ids"])
    if ptype == "tc":
        # cls_bpf or TCX: our program; our TC dispatcher: the freplace link of its slot (link_id).
        slot_links = {a.get("link_id") for a in (described or {}).get("attachments", [])
                      if a.get("mechanism") == "tc_dispatcher" and a.get("link_id")}
        ok = kid in kv["tc_ids"] or kid in kv["link_prog_ids"] or bool(
            slot_links & {l.get("id") for l in kv["links"]})
        return ok, "" if ok else "tc: %s" % kv["tc_ids"]
    return False, "unknown type %s" % ptype


def mcd_apply(old_files, new_files, new_root):
    """What the MCD does for a file change between two rendered configs: delete the files of the
    old config that the new one no longer has, then write every file of the new one that differs
    (atomically: a temp file in the same directory, then rename). `old_files`/`new_files`: the
    "file" records of ignition-apply --record; `new_root`: where the new config was applied.
    Unit files are files under /etc/systemd/system here too (as the MCD writes them). Returns a
    list of what was done, and the set of paths that changed."""
    old = {f["path"] for f in old_files}
    new = {f["path"]: f for f in new_files}
    actions, changed = [], set()
    for path in sorted(old - set(new)):
        if os.path.lexists(path):
            os.unlink(path)
            actions.append("deleted %s" % path)
            changed.add(path)
    for path, f in sorted(new.items()):
        src = os.path.join(new_root, path.lstrip("/"))
        with open(src, "rb") as fh:
            data = fh.read()
        try:
            with open(path, "rb") as fh:
                same = fh.read() == data
        except FileNotFoundError:
            same = False
        if same:
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), ".%s.mcd-tmp" % os.path.basename(path))
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, f["mode"])
        os.rename(tmp, path)
        actions.append("%s %s (%d bytes)" % ("wrote" if data else "masked", path, len(data)))
        changed.add(path)
    return actions, changed


def finish(units=(SERVICE,)):
    """The last lines: on failures the journal of `units`, then VMTEST DONE."""
    if failures:
        for u in units:
            j = run(["journalctl", "-u", u, "-n", "80", "--no-pager", "-o", "cat"])
            for line in j.stdout.splitlines():
                out("journal: %s: %s" % (u, line))
    out("VMTEST DONE failures=%d" % failures)


def main_guarded(main, units=(SERVICE,)):
    """Run the checker's main(); a crash of the checker is a failure, reported as such."""
    try:
        main()
    except Exception as e:
        import traceback
        result("checker", False, "%s: %s" % (type(e).__name__, traceback.format_exc()))
    finish(units)
