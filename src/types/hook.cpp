#include "types/hook.h"

#include <variant>

namespace bpfrec {

std::string_view to_string(AttacherKind k) {
  switch (k) {
    case AttacherKind::Xdp: return "xdp";
    case AttacherKind::Tc: return "tc";
    case AttacherKind::Tracepoint: return "tracepoint";
    case AttacherKind::RawTracepoint: return "raw_tracepoint";
    case AttacherKind::Uprobe: return "uprobe";
    case AttacherKind::Kprobe: return "kprobe";
    case AttacherKind::Trampoline: return "trampoline";
    case AttacherKind::Cgroup: return "cgroup";
    case AttacherKind::NetnsLink: return "netns_link";
    case AttacherKind::Netfilter: return "netfilter";
  }
  return "?";
}

namespace {

// One visitor of the lambdas `F...` (each takes one alternative of AttachParams).
template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
// Spelled out for clang before 17 (the fuzzers' compiler), which lacks C++20's class template
// argument deduction for aggregates.
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace

Hook hook_of(ProgramType t, const AttachSpec &a) {
  const TypeDescriptor &d = descriptor(t);
  Hook h;
  h.family = d.attacher;
  // The parameters' family decides the fields; the descriptor adds what the type fixes (entry
  // or return, the expected attach type, the kernel attach type).
  std::visit(Overloaded{
                 [&](const XdpAttach &x) { h.netns = x.netns, h.object = x.interface; },
                 [&](const TcAttach &c) {
                   h.netns = c.netns, h.object = c.interface;
                   h.point = c.direction == TcDirection::Egress ? 1 : 0;
                 },
                 [&](const TracepointAttach &p) { h.object = p.tracepoint; },
                 [&](const KprobeAttach &k) {
                   h.object = k.function;
                   h.offset = k.offset.value_or(0);
                   h.point = d.retprobe ? 1 : 0;
                 },
                 [&](const UprobeAttach &u) {
                   h.object = u.target;
                   h.symbol = u.function;
                   h.offset = u.offset.value_or(0);
                   h.pid = u.pid;
                   h.point = d.retprobe ? 1 : 0;
                 },
                 [&](const TracingAttach &f) {
                   h.object = d.load_target ? d.load_target(a) : f.function;
                   h.point = d.expected_attach_type;
                 },
                 [&](const LsmAttach &l) {
                   h.object = d.load_target ? d.load_target(a) : l.hook;
                   h.point = d.expected_attach_type;
                 },
                 [&](const CgroupAttach &c) {
                   h.object = c.cgroup;
                   h.point = d.kernel_attach_type ? d.kernel_attach_type(a) : 0;
                 },
                 [&](const NetnsAttach &n) { h.netns = n.netns; },
                 [&](const NetfilterAttach &f) {
                   h.netns = f.netns;
                   h.object = f.hook;
                   h.priority = f.priority;
                 },
             },
             a.params);
  return h;
}

bool hook_may_be_exclusive(const Hook &h) { return h.family == AttacherKind::Xdp || h.family == AttacherKind::Tc; }

}  // namespace bpfrec
