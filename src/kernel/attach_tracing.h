// Attach mechanisms of the kernel-tracing and cgroup program types (kprobe, kretprobe, fentry,
// fexit, lsm, raw_tracepoint, cgroup_skb, cgroup_sock), and the probes that tell whether this kernel
// offers a program type at all. Like attach.h: every attachment is a bpf_link pinned at
// `link_pin`, found again from the pin alone.
#pragma once

#include <cstdint>
#include <string>

#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// Whether this kernel can load and attach programs of type `t`, PROBED (never inferred from the
/// kernel version) once per process and cached:
/// - kprobe, kretprobe: libbpf_probe_bpf_prog_type(KPROBE) and the kprobe PMU
///   (/sys/bus/event_source/devices/kprobe/type; its format/retprobe bit for kretprobe);
///   absent when the kernel is built without CONFIG_KPROBES;
/// - fentry, fexit: a minimal BPF_PROG_TYPE_TRACING load against a function of the kernel's BTF
///   (/sys/kernel/btf/vmlinux); lockdown refuses it with EPERM, kernels without BPF trampolines
///   with ENOTSUPP (524);
/// - lsm: a minimal BPF_PROG_TYPE_LSM (BPF_LSM_MAC) load against bpf_lsm_file_open, refused the
///   same ways, and `bpf` in the active LSM list (/sys/kernel/security/lsm): the kernel loads and
///   attaches lsm programs without it, but never runs them;
/// - cgroup_skb, cgroup_sock, raw_tracepoint, sk_lookup: libbpf_probe_bpf_prog_type();
/// - netfilter: a minimal BPF_PROG_TYPE_NETFILTER load (Linux 6.4+, CONFIG_NETFILTER_BPF_LINK);
/// - xdp, tc, tracepoint, uprobe, uretprobe: not probed here (always success).
/// The error's message is the reason, e.g. "no kprobe PMU in this kernel (...)"; code ENOTSUP.
Result<void> probe_program_type(ProgramType t);

/// A kprobe or kretprobe on kernel function `a.function` (+ `a.offset`, kprobe only) through the
/// kprobe PMU (perf_event_open with config1 = symbol, config2 = offset; the retprobe bit from
/// the PMU's format/retprobe) and BPF_LINK_CREATE(BPF_PERF_EVENT); mechanism perf_link.
/// Errors: no kprobe PMU; unknown or unprobeable function (ENOENT/EINVAL from perf_event_open).
Result<AttachRecord> attach_kprobe(int prog_fd, bool retprobe, const AttachSpec &a, const std::string &link_pin);

/// fentry/fexit/lsm: the program was loaded against its function or hook (attach_btf_id), so
/// attaching is a tracing link from bpf_raw_tracepoint_open(NULL, prog_fd) (Linux 5.5; lsm 5.7,
/// for BPF_LSM_MAC); mechanism link.
Result<AttachRecord> attach_trampoline(int prog_fd, ProgramType t, const AttachSpec &a, const std::string &link_pin);

/// raw_tracepoint `a.tracepoint` ("sys_enter") through bpf_raw_tracepoint_open(); mechanism
/// link. Errors: ENOENT for an unknown raw tracepoint.
Result<AttachRecord> attach_raw_tracepoint(int prog_fd, const AttachSpec &a, const std::string &link_pin);

/// cgroup_skb (BPF_CGROUP_INET_INGRESS/EGRESS by `a.direction`) or cgroup_sock (by
/// `a.attach_type`: BPF_CGROUP_INET_SOCK_CREATE, _SOCK_RELEASE, INET4/6_POST_BIND) on the cgroup
/// v2 directory `a.cgroup`, through BPF_LINK_CREATE; mechanism link. Cgroup links are always
/// multi-attach (the kernel treats them as BPF_F_ALLOW_MULTI), so programs others attached to the
/// same cgroup keep running, ours runs after theirs. Errors: the path is missing or not on a
/// cgroup2 file system; EPERM when the cgroup holds an exclusive (non-multi) program.
Result<AttachRecord> attach_cgroup(int prog_fd, ProgramType t, const AttachSpec &a, const std::string &link_pin);

/// True for the types whose link BPF_LINK_UPDATE can point at another program (cgroup links),
/// so a replace keeps the link without a gap; the others (tracing, raw tracepoint, perf) are
/// replaced by attaching the new link before detaching the old one.
bool link_updatable(ProgramType t);

/// Kernel id of the live link pinned at `link_pin` (0 when none), like pinned_link_id(), but a
/// cgroup link whose cgroup was removed (the kernel reports cgroup_id 0) and a netns link whose
/// network namespace is gone (netns_ino 0) count as gone too.
uint32_t pinned_live_link_id(const std::string &link_pin, uint32_t *prog_id = nullptr);

}  // namespace bpfrec
