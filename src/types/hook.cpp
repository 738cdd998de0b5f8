#include "types/hook.h"

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

Hook hook_of(ProgramType t, const AttachSpec &a) {
  const TypeDescriptor &d = descriptor(t);
  Hook h;
  h.family = d.attacher;
  switch (d.attacher) {
    case AttacherKind::Xdp:
      h.netns = a.netns;
      h.object = a.interface;
      break;
    case AttacherKind::Tc:
      h.netns = a.netns;
      h.object = a.interface;
      h.point = a.direction == TcDirection::Egress ? 1 : 0;
      break;
    case AttacherKind::Tracepoint:
    case AttacherKind::RawTracepoint: h.object = a.tracepoint; break;
    case AttacherKind::Kprobe:
      h.object = a.function;
      h.offset = a.offset.value_or(0);
      h.point = d.retprobe ? 1 : 0;
      break;
    case AttacherKind::Uprobe:
      h.object = a.target;
      h.symbol = a.function;
      h.offset = a.offset.value_or(0);
      h.pid = a.pid;
      h.point = d.retprobe ? 1 : 0;
      break;
    case AttacherKind::Trampoline:
      h.object = d.load_target ? d.load_target(a) : a.function;
      h.point = d.expected_attach_type;
      break;
    case AttacherKind::Cgroup:
      h.object = a.cgroup;
      h.point = d.kernel_attach_type ? d.kernel_attach_type(a) : 0;
      break;
    case AttacherKind::NetnsLink: h.netns = a.netns; break;
    case AttacherKind::Netfilter:
      h.netns = a.netns;
      h.object = a.hook;
      h.priority = a.netfilter_priority;
      break;
  }
  return h;
}

bool hook_may_be_exclusive(const Hook &h) { return h.family == AttacherKind::Xdp || h.family == AttacherKind::Tc; }

}  // namespace bpfrec
