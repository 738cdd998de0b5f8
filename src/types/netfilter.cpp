// netfilter (BPF_PROG_TYPE_NETFILTER, Linux 6.4+): a program on a netfilter hook of one network
// namespace (ipv4/ipv6 prerouting, input, forward, output, postrouting) at a netfilter
// priority, returning NF_ACCEPT or NF_DROP. A BPF_LINK_CREATE with attach type BPF_NETFILTER
// and the netfilter opts (pf, hooknum, priority, flags) in the calling thread's namespace.
// libbpf 1.1.2 and Debian's 6.1 uapi headers predate it: the numbers are defined here.
#include <array>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

// Linux 6.4 UAPI (include/uapi/linux/bpf.h) that libbpf 1.1.2's copy lacks.
constexpr uint32_t kBpfProgTypeNetfilter = 32;  // BPF_PROG_TYPE_NETFILTER
constexpr uint32_t kBpfNetfilter = 45;          // BPF_NETFILTER (attach type)
// include/uapi/linux/netfilter.h
constexpr uint32_t kNfprotoIpv4 = 2, kNfprotoIpv6 = 10;

struct Hook {
  std::string_view name;
  uint32_t pf;
  uint32_t hooknum;  // enum nf_inet_hooks: PRE_ROUTING 0, LOCAL_IN 1, FORWARD 2, LOCAL_OUT 3, POST_ROUTING 4
};
constexpr std::array<Hook, 10> kHooks{{
    {"ipv4_prerouting", kNfprotoIpv4, 0}, {"ipv4_input", kNfprotoIpv4, 1},  {"ipv4_forward", kNfprotoIpv4, 2},
    {"ipv4_output", kNfprotoIpv4, 3},     {"ipv4_postrouting", kNfprotoIpv4, 4},
    {"ipv6_prerouting", kNfprotoIpv6, 0}, {"ipv6_input", kNfprotoIpv6, 1},  {"ipv6_forward", kNfprotoIpv6, 2},
    {"ipv6_output", kNfprotoIpv6, 3},     {"ipv6_postrouting", kNfprotoIpv6, 4},
}};

void hook(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "hook")) {
    if (netfilter_hook(*s)) {
      keys::params<NetfilterAttach>(a).hook = *s;
      return;
    }
    std::vector<std::string_view> names;
    for (const auto &h : kHooks) names.push_back(h.name);
    r.error(v, fmt::format("'hook' = \"{}\" is not one of: {}", *s, fmt::join(names, ", ")));
  }
}

// The kernel refuses NF_IP_PRI_FIRST (INT_MIN) and NF_IP_PRI_LAST (INT_MAX) with ERANGE
// (net/netfilter/nf_bpf_link.c, bpf_nf_check_pf_and_hooks()): every other int32 is a priority.
void priority(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto n = r.integer(v, "priority", int64_t{INT32_MIN} + 1, int64_t{INT32_MAX} - 1))
    keys::params<NetfilterAttach>(a).priority = static_cast<int32_t>(*n);
}

}  // namespace

std::optional<std::pair<uint32_t, uint32_t>> netfilter_hook(std::string_view name) {
  for (const auto &h : kHooks)
    if (h.name == name) return std::make_pair(h.pf, h.hooknum);
  return std::nullopt;
}

const TypeDescriptor &netfilter() {
  static const TypeDescriptor d{
      .type = ProgramType::Netfilter,
      .name = "netfilter",
      .prog_type = kBpfProgTypeNetfilter,
      .expected_attach_type = kBpfNetfilter,
      .sections = {"netfilter"},
      .make_params = keys::make<NetfilterAttach>,
      .keys = {{"hook", hook}, {"priority", priority}, {"netns", keys::netns<NetfilterAttach>}},
      .required = {{"hook"}},
      .probe = ProbeKind::Netfilter,
      .attacher = AttacherKind::Netfilter,
      .canonical = [](const AttachSpec &s, std::string &o) {
        const auto &a = keys::params<NetfilterAttach>(s);
        o += "hook=", o += a.hook, o += "\nprio=", o += std::to_string(a.priority), o += "\nnetns=",
            o += a.netns;
      },
      .label = [](const AttachSpec &spec) {
        const auto &a = keys::params<NetfilterAttach>(spec);
        std::string s = fmt::format("{} priority {}", a.hook, a.priority);
        if (!a.netns.empty()) s += fmt::format(" (netns {})", a.netns);
        return s;
      },
  };
  return d;
}

}  // namespace bpfrec::types
