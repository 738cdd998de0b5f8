// xdp: a program on a network interface's XDP hook (BPF_PROG_TYPE_XDP), alone or as a
// component of libxdp's dispatcher (priority, proceed_on: libxdp's rules).
#include <linux/bpf.h>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

void mode(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "mode")) {
    for (auto m : {XdpMode::Auto, XdpMode::Native, XdpMode::Skb, XdpMode::Hw})
      if (to_string(m) == *s) {
        keys::params<XdpAttach>(a).mode = m;
        return;
      }
    r.error(v, fmt::format("'mode' = \"{}\" is not one of: auto, native, skb, hw", *s));
  }
}

void canonical(const AttachSpec &s, std::string &o) {
  const auto &a = keys::params<XdpAttach>(s);
  keys::interface_canonical(a, o);
  o += "\nmode=";
  o += to_string(a.mode);
}

std::string label(const AttachSpec &s) {
  const auto &a = keys::params<XdpAttach>(s);
  return a.netns.empty() ? a.interface : fmt::format("{} (netns {})", a.interface, a.netns);
}

}  // namespace

const TypeDescriptor &xdp() {
  static const TypeDescriptor d{
      .type = ProgramType::Xdp,
      .name = "xdp",
      .prog_type = BPF_PROG_TYPE_XDP,
      .sections = {"xdp", "xdp.frags"},
      // XDP programs for devmap/cpumap entries, not for an interface (libbpf: BPF_XDP_DEVMAP/CPUMAP).
      .excluded_sections = {"xdp/devmap", "xdp/cpumap", "xdp.frags/devmap", "xdp.frags/cpumap"},
      .make_params = keys::make<XdpAttach>,
      .keys = {{"interface", keys::interface<XdpAttach>},
               {"netns", keys::netns<XdpAttach>},
               {"priority", keys::priority<XdpAttach>},
               {"proceed_on", keys::xdp_proceed_on},
               {"mode", mode}},
      .required = {{"interface"}},
      // libxdp's chain-call actions; the default is libxdp's (XDP_PASS and the dispatcher return).
      .proceed_on_names = {"aborted", "drop", "pass", "tx", "redirect", "dispatcher_return"},
      .proceed_on_defaults = {"pass", "dispatcher_return"},
      .network = true,
      .attacher = AttacherKind::Xdp,
      .canonical = canonical,
      .label = label,
  };
  return d;
}

}  // namespace bpfrec::types
