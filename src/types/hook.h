// The hook of an attach point, as a value: what the kernel runs programs at. Two attach points
// with equal hooks share (dispatcher, TCX chain, several perf links) or compete for (XDP alone,
// cls_bpf) one place in the kernel; the planner and the executor compare hooks, never labels.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "manifest/manifest.h"
#include "types/type.h"

namespace bpfrec {

/// Where an attach point runs. Fields that do not apply to the family keep their defaults.
/// - Xdp: netns, object = interface;
/// - Tc: netns, object = interface, point = 0 ingress / 1 egress;
/// - Tracepoint, RawTracepoint: object = the tracepoint;
/// - Kprobe: object = kernel function, offset; point = 1 for a kretprobe;
/// - Uprobe: object = binary (as written: a library name is resolved at attach), symbol =
///   function, offset, pid; point = 1 for a uretprobe;
/// - Trampoline: object = the load target (fentry/fexit function, LSM hook), point = the
///   expected attach type;
/// - Cgroup: object = cgroup directory, point = the kernel attach type (BPF_CGROUP_*);
/// - NetnsLink: netns; Netfilter: netns, object = netfilter hook name, priority.
/// The netns is the file path the manifest gives ("" = the daemon's): two paths that name one
/// namespace are two hooks here (the kernel layer resolves inodes).
struct Hook {
  AttacherKind family = AttacherKind::Xdp;
  std::string netns;
  std::string object;
  std::string symbol;
  uint64_t offset = 0;
  std::optional<int32_t> pid;
  uint32_t point = 0;
  int32_t priority = 0;
  auto operator<=>(const Hook &) const = default;
};

/// The family's name for output (`plan --json`): "xdp", "tc", "tracepoint", "raw_tracepoint",
/// "uprobe", "kprobe", "trampoline", "cgroup", "netns_link", "netfilter".
std::string_view to_string(AttacherKind k);

/// The hook of attach point `a` of a program of type `t` (descriptor(t).attacher's family): the
/// fields come from `a.params`, which must be `t`'s alternative; the descriptor adds what the
/// type fixes (entry or return probe, expected and kernel attach type).
Hook hook_of(ProgramType t, const AttachSpec &a);

/// Whether one attach point at most of ours can hold `h` at a time, so that a new attach point
/// on it must take the old one's place: XDP without a dispatcher and cls_bpf make it so, but
/// that is a mechanism's property; here: false for the families where the kernel always runs
/// several (perf links, tracing links, cgroup multi-attach, netfilter, sk_lookup), true for
/// Xdp and Tc, whose mechanism decides.
bool hook_may_be_exclusive(const Hook &h);

}  // namespace bpfrec
