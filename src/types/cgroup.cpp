// cgroup_skb (BPF_PROG_TYPE_CGROUP_SKB: packets in or out of a cgroup's sockets) and
// cgroup_sock (BPF_PROG_TYPE_CGROUP_SOCK: socket creation, release, bind), both a
// BPF_LINK_CREATE on a cgroup v2 directory; their links update in place.
#include <linux/bpf.h>

#include <algorithm>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

// The parameters of a cgroup_skb or cgroup_sock attach point.
const CgroupAttach &cg(const AttachSpec &a) { return keys::params<CgroupAttach>(a); }

void sock_attach_type(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "attach_type")) {
    const auto &names = cgroup_sock_attach_names();
    if (std::find(names.begin(), names.end(), *s) == names.end())
      r.error(v, fmt::format("'attach_type' = \"{}\" is not one of: {}", *s, fmt::join(names, ", ")));
    else keys::params<CgroupAttach>(a).attach_type = *s;
  }
}

std::optional<std::string> skb_section_constraint(std::string_view section) {
  if (section == "cgroup_skb/ingress") return "ingress";
  if (section == "cgroup_skb/egress") return "egress";
  return std::nullopt;
}

// libbpf's cgroup/<what> sections set the expected attach type; "cgroup/sock" and a section
// naming no type are sock_create (BPF_CGROUP_INET_SOCK_CREATE, the kernel's default).
std::optional<std::string> sock_section_constraint(std::string_view section) {
  if (!section.starts_with("cgroup/")) return std::string("sock_create");
  auto what = section.substr(7);
  return std::string(what == "sock" ? "sock_create" : what);
}

uint32_t skb_attach_type(const AttachSpec &a) {
  return cg(a).direction == TcDirection::Egress ? BPF_CGROUP_INET_EGRESS : BPF_CGROUP_INET_INGRESS;
}

// bpftool-cgroup(8)'s names.
uint32_t sock_attach_type_of(const AttachSpec &a) {
  const std::string &t = cg(a).attach_type;
  if (t == "sock_release") return BPF_CGROUP_INET_SOCK_RELEASE;
  if (t == "post_bind4") return BPF_CGROUP_INET4_POST_BIND;
  if (t == "post_bind6") return BPF_CGROUP_INET6_POST_BIND;
  return BPF_CGROUP_INET_SOCK_CREATE;
}

}  // namespace

const TypeDescriptor &cgroup_skb() {
  static const TypeDescriptor d{
      .type = ProgramType::CgroupSkb,
      .name = "cgroup_skb",
      .prog_type = BPF_PROG_TYPE_CGROUP_SKB,
      .sections = {"cgroup_skb", "cgroup/skb"},
      .sections_help = "cgroup_skb/*, cgroup/skb",
      .make_params = keys::make<CgroupAttach>,
      .keys = {{"cgroup", keys::cgroup}, {"direction", keys::direction<CgroupAttach>}},
      .required = {{"cgroup"}, {"direction"}},
      .link_updatable = true,
      .probe = ProbeKind::ProgType,
      .attacher = AttacherKind::Cgroup,
      .canonical = [](const AttachSpec &a, std::string &o) {
        o += "cgroup=", o += cg(a).cgroup, o += "\ndir=", o += to_string(cg(a).direction);
      },
      .label = [](const AttachSpec &a) { return fmt::format("{} {}", cg(a).cgroup, to_string(cg(a).direction)); },
      .section_constraint = skb_section_constraint,
      .constrained_key = "direction",
      .constrained_value = [](const AttachSpec &a) { return std::string(to_string(cg(a).direction)); },
      .kernel_attach_type = skb_attach_type,
  };
  return d;
}

const TypeDescriptor &cgroup_sock() {
  static const TypeDescriptor d{
      .type = ProgramType::CgroupSock,
      .name = "cgroup_sock",
      .prog_type = BPF_PROG_TYPE_CGROUP_SOCK,
      .sections = {"cgroup/sock", "cgroup/sock_create", "cgroup/sock_release", "cgroup/post_bind4",
                   "cgroup/post_bind6"},
      .sections_help = "cgroup/sock, cgroup/sock_create, cgroup/sock_release, cgroup/post_bind4, cgroup/post_bind6",
      .make_params = keys::make<CgroupAttach>,
      .keys = {{"cgroup", keys::cgroup}, {"attach_type", sock_attach_type}},
      .required = {{"cgroup"}},
      .link_updatable = true,
      .probe = ProbeKind::ProgType,
      .attacher = AttacherKind::Cgroup,
      .canonical = [](const AttachSpec &a, std::string &o) {
        o += "cgroup=", o += cg(a).cgroup, o += "\nattach=", o += cg(a).attach_type;
      },
      .label = [](const AttachSpec &a) { return fmt::format("{} {}", cg(a).cgroup, cg(a).attach_type); },
      .section_constraint = sock_section_constraint,
      .constrained_key = "attach_type",
      .constrained_value = [](const AttachSpec &a) { return cg(a).attach_type; },
      .kernel_attach_type = sock_attach_type_of,
  };
  return d;
}

}  // namespace bpfrec::types

namespace bpfrec {

const std::vector<std::string> &cgroup_sock_attach_names() {
  static const std::vector<std::string> names{"sock_create", "sock_release", "post_bind4", "post_bind6"};
  return names;
}

}  // namespace bpfrec
