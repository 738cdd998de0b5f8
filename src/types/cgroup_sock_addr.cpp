// cgroup_sock_addr (BPF_PROG_TYPE_CGROUP_SOCK_ADDR: connect, bind, sendmsg, recvmsg,
// getpeername and getsockname of a cgroup's inet sockets, which may rewrite the address), a
// BPF_LINK_CREATE on a cgroup v2 directory; its links update in place. The kernel takes the
// attach type at load (expected_attach_type), which libbpf sets from the section, so a program
// attaches only as the attach type its section names.
#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

// bpftool-cgroup(8)'s names, libbpf's cgroup/<name> sections and the kernel attach types.
constexpr std::array<std::pair<std::string_view, uint32_t>, 12> kAttachTypes{{
    {"connect4", BPF_CGROUP_INET4_CONNECT},
    {"connect6", BPF_CGROUP_INET6_CONNECT},
    {"bind4", BPF_CGROUP_INET4_BIND},
    {"bind6", BPF_CGROUP_INET6_BIND},
    {"sendmsg4", BPF_CGROUP_UDP4_SENDMSG},
    {"sendmsg6", BPF_CGROUP_UDP6_SENDMSG},
    {"recvmsg4", BPF_CGROUP_UDP4_RECVMSG},
    {"recvmsg6", BPF_CGROUP_UDP6_RECVMSG},
    {"getpeername4", BPF_CGROUP_INET4_GETPEERNAME},
    {"getpeername6", BPF_CGROUP_INET6_GETPEERNAME},
    {"getsockname4", BPF_CGROUP_INET4_GETSOCKNAME},
    {"getsockname6", BPF_CGROUP_INET6_GETSOCKNAME},
}};

const std::pair<std::string_view, uint32_t> *find_attach_type(std::string_view name) {
  auto it = std::find_if(kAttachTypes.begin(), kAttachTypes.end(), [&](const auto &e) { return e.first == name; });
  return it == kAttachTypes.end() ? nullptr : &*it;
}

void attach_type(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "attach_type")) {
    if (!find_attach_type(*s)) {
      std::vector<std::string_view> names;
      for (const auto &e : kAttachTypes) names.push_back(e.first);
      r.error(v, fmt::format("'attach_type' = \"{}\" is not one of: {}", *s, fmt::join(names, ", ")));
    } else {
      keys::params<CgroupAttach>(a).attach_type = *s;
    }
  }
}

// libbpf 1.1.2 types exactly cgroup/<name> and sets its expected attach type. Any other section
// (cgroup/connect4/x, a section of the user's own naming) would load with expected attach type
// 0, which the kernel refuses for this program type: no attach type fits it.
std::optional<std::string> section_constraint(std::string_view section) {
  if (section.starts_with('?')) section.remove_prefix(1);
  if (section.starts_with("cgroup/") && find_attach_type(section.substr(7)))
    return std::string(section.substr(7));
  return std::string(
      "none (the kernel needs a cgroup_sock_addr program's attach type at load: put it in a section "
      "cgroup/<attach_type>, e.g. cgroup/connect4)");
}

// The parameters of a cgroup_sock_addr attach point.
const CgroupAttach &cg(const AttachSpec &a) { return keys::params<CgroupAttach>(a); }

uint32_t kernel_attach_type(const AttachSpec &a) {
  const auto *e = find_attach_type(cg(a).attach_type);
  return e ? e->second : uint32_t{BPF_CGROUP_INET4_CONNECT};  // the parser admits only kAttachTypes
}

}  // namespace

const TypeDescriptor &cgroup_sock_addr() {
  static const TypeDescriptor d{
      .type = ProgramType::CgroupSockAddr,
      .name = "cgroup_sock_addr",
      .prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
      .sections = {"cgroup/connect4", "cgroup/connect6", "cgroup/bind4", "cgroup/bind6", "cgroup/sendmsg4",
                   "cgroup/sendmsg6", "cgroup/recvmsg4", "cgroup/recvmsg6", "cgroup/getpeername4",
                   "cgroup/getpeername6", "cgroup/getsockname4", "cgroup/getsockname6"},
      .sections_help = "cgroup/connect4, cgroup/connect6, cgroup/bind4, cgroup/bind6, cgroup/sendmsg4, "
                       "cgroup/sendmsg6, cgroup/recvmsg4, cgroup/recvmsg6, cgroup/getpeername4, "
                       "cgroup/getpeername6, cgroup/getsockname4, cgroup/getsockname6",
      .make_params = keys::make<CgroupAttach>,
      .keys = {{"cgroup", keys::cgroup}, {"attach_type", attach_type}},
      .required = {{"cgroup"}, {"attach_type"}},
      .link_updatable = true,
      .probe = ProbeKind::ProgType,
      .attacher = AttacherKind::Cgroup,
      .canonical = [](const AttachSpec &a, std::string &o) {
        o += "cgroup=", o += cg(a).cgroup, o += "\nattach=", o += cg(a).attach_type;
      },
      .label = [](const AttachSpec &a) { return fmt::format("{} {}", cg(a).cgroup, cg(a).attach_type); },
      .section_constraint = section_constraint,
      .constrained_key = "attach_type",
      .constrained_value = [](const AttachSpec &a) { return cg(a).attach_type; },
      .kernel_attach_type = kernel_attach_type,
  };
  return d;
}

}  // namespace bpfrec::types
