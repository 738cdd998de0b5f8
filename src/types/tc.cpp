// tc: a classifier on a network interface's ingress or egress (BPF_PROG_TYPE_SCHED_CLS),
// through TCX (Linux 6.6), the TC dispatcher, or a cls_bpf filter (kernel/ chooses by probing).
#include <linux/bpf.h>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

void canonical(const AttachSpec &s, std::string &o) {
  const auto &a = keys::params<TcAttach>(s);
  keys::interface_canonical(a, o);
  o += "\ndir=";
  o += to_string(a.direction);
}

std::string label(const AttachSpec &spec) {
  const auto &a = keys::params<TcAttach>(spec);
  std::string s = fmt::format("{} {}", a.interface, to_string(a.direction));
  if (!a.netns.empty()) s += fmt::format(" (netns {})", a.netns);
  return s;
}

}  // namespace

const TypeDescriptor &tc() {
  static const TypeDescriptor d{
      .type = ProgramType::Tc,
      .name = "tc",
      .prog_type = BPF_PROG_TYPE_SCHED_CLS,
      .sections = {"tc", "classifier", "tcx"},
      .make_params = keys::make<TcAttach>,
      .keys = {{"interface", keys::interface<TcAttach>},
               {"netns", keys::netns<TcAttach>},
               {"priority", keys::priority<TcAttach>},
               {"proceed_on", keys::tc_proceed_on},
               {"direction", keys::direction<TcAttach>}},
      .required = {{"interface"}, {"direction"}},
      // The TC_ACT_* names (bpfman's); the default is bpfman's (pipe and the dispatcher return).
      .proceed_on_names = {"unspec", "ok", "reclassify", "shot", "pipe", "stolen", "queued", "repeat", "redirect",
                           "trap", "dispatcher_return"},
      .proceed_on_defaults = {"pipe", "dispatcher_return"},
      .network = true,
      .attacher = AttacherKind::Tc,
      .canonical = canonical,
      .label = label,
  };
  return d;
}

}  // namespace bpfrec::types
