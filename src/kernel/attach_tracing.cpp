#include "kernel/attach_tracing.h"
#include "types/type.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <memory>

#include "kernel/attach.h"
#include "kernel/perf_pmu.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

// The kernel's ENOTSUPP (include/linux/errno.h), not in user space's errno.h: what a kernel
// without BPF trampolines returns for fentry/fexit.
constexpr int kKernelEnotsupp = 524;

constexpr const char *kKprobePmu = "/sys/bus/event_source/devices/kprobe";

std::string errno_text(int err) {
  if (err == kKernelEnotsupp) return "ENOTSUPP";
  const char *name = strerrorname_np(err);
  return fmt::format("{}, {}", name ? name : std::to_string(err), std::strerror(err));
}

Result<void> unavailable(std::string reason) { return fail(Error{ENOTSUP, std::move(reason)}); }

Result<void> probe_libbpf(bpf_prog_type t) {
  const int r = libbpf_probe_bpf_prog_type(t, nullptr);
  if (r == 1) return {};
  const char *name = libbpf_bpf_prog_type_str(t);
  if (r == 0) return unavailable(fmt::format("the kernel does not load BPF_PROG_TYPE_{} programs", name ? name : "?"));
  return unavailable(fmt::format("probing BPF_PROG_TYPE_{} failed ({})", name ? name : "?", errno_text(-r)));
}

Result<void> probe_kprobe(bool retprobe) {
  if (auto r = probe_libbpf(BPF_PROG_TYPE_KPROBE); !r) return r;
  if (::access((std::string(kKprobePmu) + "/type").c_str(), R_OK) != 0)
    return unavailable(fmt::format("no kprobe PMU in this kernel ({} is missing: built without CONFIG_KPROBES)",
                                   kKprobePmu));
  if (retprobe && ::access((std::string(kKprobePmu) + "/format/retprobe").c_str(), R_OK) != 0)
    return unavailable(fmt::format("the kprobe PMU has no retprobe bit ({}/format/retprobe is missing)", kKprobePmu));
  return {};
}

// A two-instruction program ("return 0") of `d`'s program and expected attach type (fentry,
// fexit: BPF_PROG_TYPE_TRACING; lsm: BPF_PROG_TYPE_LSM with BPF_LSM_MAC) loaded against the first
// of `functions` in the kernel's BTF: the kernel's answer is the probe. `missing`: the reason
// when none of them is there.
Result<void> probe_trampoline(const TypeDescriptor &d, std::initializer_list<const char *> functions,
                              std::string_view missing) {
  std::unique_ptr<btf, decltype(&btf__free)> vmlinux(btf__load_vmlinux_btf(), &btf__free);
  if (!vmlinux) return unavailable(fmt::format("no kernel BTF (/sys/kernel/btf/vmlinux: {})", errno_text(errno)));
  int fn = -1;
  for (const char *name : functions)
    if ((fn = btf__find_by_name_kind(vmlinux.get(), name, BTF_KIND_FUNC)) > 0) break;
  if (fn <= 0) return unavailable(std::string(missing));
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = 0
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                   // exit
  };
  DECLARE_LIBBPF_OPTS(bpf_prog_load_opts, opts,
                      .expected_attach_type = static_cast<bpf_attach_type>(d.expected_attach_type),
                      .attach_btf_id = static_cast<__u32>(fn));
  const auto type = static_cast<bpf_prog_type>(d.prog_type);
  const char *tn = libbpf_bpf_prog_type_str(type);  // "tracing", "lsm"
  std::string type_name = fmt::format("BPF_PROG_TYPE_{}", tn ? tn : "?");
  for (char &c : type_name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  UniqueFd fd(bpf_prog_load(type, nullptr, "GPL", insns, 2, &opts));
  if (fd.valid()) return {};
  const int err = errno;
  if (err == EPERM)
    return unavailable(fmt::format("the kernel refuses {} ({}; kernel lockdown refuses it so)", type_name,
                                   errno_text(err)));
  if (err == kKernelEnotsupp)
    return unavailable(fmt::format("the kernel has no BPF trampoline for {} (ENOTSUPP)", d.name));
  return unavailable(fmt::format("the kernel refuses {} ({})", type_name, errno_text(err)));
}

// The kernel loads and attaches lsm programs whatever LSMs are active, but bpf_lsm_<hook> is only
// called when `bpf` is one of them (the lsm= boot parameter, else CONFIG_LSM): without it an lsm
// program would be attached and never run. securityfs lists the active LSMs.
Result<void> probe_bpf_lsm_active() {
  constexpr const char *kLsmList = "/sys/kernel/security/lsm";
  std::ifstream in(kLsmList);
  std::string list;
  if (!in || !std::getline(in, list))
    return unavailable(fmt::format("cannot tell whether the bpf LSM is active: {} is unreadable (securityfs not "
                                   "mounted? mount -t securityfs securityfs /sys/kernel/security)", kLsmList));
  std::stringstream names(list);
  for (std::string n; std::getline(names, n, ',');)
    if (n == "bpf") return {};
  return unavailable(fmt::format("the bpf LSM is not active: 'bpf' is not in the active LSM list {} (\"{}\"); "
                                 "boot with lsm=<that list>,bpf (CONFIG_BPF_LSM=y is needed too)", kLsmList, list));
}

Result<void> probe_lsm(const TypeDescriptor &d) {
  // bpf_lsm_file_open: one of the kernel's nop functions for every LSM hook (kernel/bpf/bpf_lsm.c,
  // CONFIG_BPF_LSM); bpf_lsm_bprm_check_security is a fallback.
  if (auto r = probe_trampoline(d, {"bpf_lsm_file_open", "bpf_lsm_bprm_check_security"},
                                 "no bpf_lsm_file_open in the kernel's BTF (built without CONFIG_BPF_LSM)");
      !r)
    return r;
  return probe_bpf_lsm_active();
}

// A two-instruction netfilter program ("return NF_ACCEPT") with BPF_NETFILTER as expected attach
// type: libbpf 1.1.2 does not know the type (Linux 6.4), so it is loaded by hand.
Result<void> probe_netfilter(const TypeDescriptor &d) {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1},  // r0 = NF_ACCEPT
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                   // exit
  };
  DECLARE_LIBBPF_OPTS(bpf_prog_load_opts, opts,
                      .expected_attach_type = static_cast<bpf_attach_type>(d.expected_attach_type));
  UniqueFd fd(bpf_prog_load(static_cast<bpf_prog_type>(d.prog_type), nullptr, "GPL", insns, 2, &opts));
  if (fd.valid()) return {};
  return unavailable(fmt::format("the kernel does not load BPF_PROG_TYPE_NETFILTER programs ({}): netfilter links "
                                 "need Linux 6.4 or later built with CONFIG_NETFILTER_BPF_LINK", errno_text(errno)));
}

Result<void> probe_uncached(ProgramType t) {
  const TypeDescriptor &d = descriptor(t);
  switch (d.probe) {
    case ProbeKind::None: return {};
    case ProbeKind::ProgType: return probe_libbpf(static_cast<bpf_prog_type>(d.prog_type));
    case ProbeKind::KprobePmu: return probe_kprobe(false);
    case ProbeKind::KretprobePmu: return probe_kprobe(true);
    // bpf_fentry_test1 exists for BPF selftests in every kernel with CONFIG_NET; the others are
    // fallbacks that kernels of every architecture have.
    case ProbeKind::Trampoline:
      return probe_trampoline(d, {"bpf_fentry_test1", "do_sys_openat2", "__task_pid_nr_ns"},
                              "no known function in the kernel's BTF to probe fentry/fexit with");
    case ProbeKind::Lsm: return probe_lsm(d);
    case ProbeKind::Netfilter: return probe_netfilter(d);
  }
  return {};
}

// Pins the link `link` at `link_pin` and records its id; the fd closes on return, the pin keeps
// the link (and its attachment) alive.
Result<AttachRecord> pin_link(UniqueFd link, const std::string &link_pin, AttachRecord rec) {
  if (bpf_obj_pin(link.get(), link_pin.c_str()) != 0) return fail_errno(errno, "pin link {}", link_pin);
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0) rec.link_id = info.id;
  return rec;
}

AttachRecord link_record(ProgramType t, const AttachSpec &a, Mechanism m) {
  AttachRecord rec;
  rec.mechanism = m;
  rec.target = a.target_label(t);
  return rec;
}

}  // namespace

Result<void> probe_program_type(ProgramType t) {
  // The answer cannot change while the kernel runs (lockdown only tightens, and not at runtime
  // in a way a daemon restart would not see too), so it is asked once.
  static std::map<ProgramType, Result<void>> cache;
  auto it = cache.find(t);
  if (it == cache.end()) it = cache.emplace(t, probe_uncached(t)).first;
  return it->second;
}

Result<AttachRecord> attach_kprobe(int prog_fd, bool retprobe, const AttachSpec &a, const std::string &link_pin) {
  const auto *k = a.get_if<KprobeAttach>();
  if (!k) return wrong_params("kprobe");
  AttachRecord rec = link_record(retprobe ? ProgramType::Kretprobe : ProgramType::Kprobe, a, Mechanism::PerfLink);
  auto pmu = pmu_event_attr("kprobe", retprobe);
  if (!pmu) return fail_errno(pmu.error().code, "{} {}: {}", retprobe ? "kretprobe" : "kprobe", rec.target, pmu.error().message);
  perf_event_attr attr = *pmu;
  attr.config1 = reinterpret_cast<uint64_t>(k->function.c_str());  // the symbol, read by the kernel
  attr.config2 = k->offset.value_or(0);
  UniqueFd pfd(static_cast<int>(perf_event_open(&attr, -1 /* every process */, 0 /* cpu */)));
  if (!pfd.valid()) {
    const int err = errno;
    if (err == ENOENT || err == EINVAL)
      return fail_errno(err, "perf_event_open {} {}: no such kernel function, or it cannot be probed (see "
                        "/sys/kernel/debug/kprobes/blacklist)", retprobe ? "kretprobe" : "kprobe", rec.target);
    return fail_errno(err, "perf_event_open {} {}", retprobe ? "kretprobe" : "kprobe", rec.target);
  }
  UniqueFd link(bpf_link_create(prog_fd, pfd.get(), BPF_PERF_EVENT, nullptr));
  if (!link.valid()) return fail_errno(errno, "create perf link for {}", rec.target);
  return pin_link(std::move(link), link_pin, std::move(rec));
}

Result<AttachRecord> attach_trampoline(int prog_fd, ProgramType t, const AttachSpec &a, const std::string &link_pin) {
  AttachRecord rec = link_record(t, a, Mechanism::Link);
  UniqueFd link(bpf_raw_tracepoint_open(nullptr, prog_fd));
  if (!link.valid()) return fail_errno(errno, "attach {} to {}", to_string(t), rec.target);
  return pin_link(std::move(link), link_pin, std::move(rec));
}

Result<AttachRecord> attach_raw_tracepoint(int prog_fd, const AttachSpec &a, const std::string &link_pin) {
  const auto *tp = a.get_if<TracepointAttach>();
  if (!tp) return wrong_params("raw tracepoint");
  AttachRecord rec = link_record(ProgramType::RawTracepoint, a, Mechanism::Link);
  UniqueFd link(bpf_raw_tracepoint_open(tp->tracepoint.c_str(), prog_fd));
  if (!link.valid() && errno == ENOENT)
    return fail_errno(ENOENT, "raw tracepoint {}: the kernel has no raw tracepoint of that name", tp->tracepoint);
  if (!link.valid()) return fail_errno(errno, "attach raw tracepoint {}", tp->tracepoint);
  return pin_link(std::move(link), link_pin, std::move(rec));
}

Result<AttachRecord> attach_cgroup(int prog_fd, ProgramType t, const AttachSpec &a, const std::string &link_pin) {
  const auto *c = a.get_if<CgroupAttach>();
  if (!c) return wrong_params("cgroup");
  AttachRecord rec = link_record(t, a, Mechanism::Link);
  UniqueFd cg(::open(c->cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg.valid()) return fail_errno(errno, "open cgroup {}", c->cgroup);
  struct statfs fs {};
  if (::fstatfs(cg.get(), &fs) != 0) return fail_errno(errno, "statfs {}", c->cgroup);
  if (fs.f_type != CGROUP2_SUPER_MAGIC)
    return fail_errno(ENOTDIR, "{} is not a cgroup v2 directory (BPF cgroup programs need cgroup2; see "
                      "`findmnt -t cgroup2`)", c->cgroup);
  UniqueFd link(bpf_link_create(prog_fd, cg.get(), static_cast<bpf_attach_type>(descriptor(t).kernel_attach_type(a)), nullptr));
  if (!link.valid() && errno == EPERM)
    return fail_errno(EPERM, "attach to cgroup {}: the cgroup holds a program attached exclusively (without "
                      "BPF_F_ALLOW_MULTI), which shuts every other program out", rec.target);
  if (!link.valid()) return fail_errno(errno, "attach to cgroup {}", rec.target);
  return pin_link(std::move(link), link_pin, std::move(rec));
}

bool link_updatable(ProgramType t) { return descriptor(t).link_updatable; }

uint32_t pinned_live_link_id(const std::string &link_pin, uint32_t *prog_id) {
  UniqueFd fd(bpf_obj_get(link_pin.c_str()));
  if (!fd.valid()) return 0;
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return 0;
  if (prog_id) *prog_id = info.prog_id;
  // A cgroup link outlives its cgroup, detached: the kernel then reports cgroup_id 0.
  if (info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == 0) return 0;
  // A netns link (sk_lookup) outlives its network namespace, detached: netns_ino 0 then
  // (bpf_netns_link_fill_info() reports 0 once the namespace's pre_exit cleared link->net).
  if (info.type == BPF_LINK_TYPE_NETNS && info.netns.netns_ino == 0) return 0;
  return info.id;
}

}  // namespace bpfrec
