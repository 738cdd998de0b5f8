// sk_lookup (BPF_PROG_TYPE_SK_LOOKUP, Linux 5.9): picks the socket that receives a new
// connection or datagram in one network namespace (bpf_sk_assign), before the kernel's own
// socket lookup. A BPF_LINK_CREATE with the namespace file as target (BPF_SK_LOOKUP, a netns
// link); several programs may share a namespace, they run in attach order.
#include <linux/bpf.h>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

const TypeDescriptor &sk_lookup() {
  static const TypeDescriptor d{
      .type = ProgramType::SkLookup,
      .name = "sk_lookup",
      .prog_type = BPF_PROG_TYPE_SK_LOOKUP,
      .expected_attach_type = BPF_SK_LOOKUP,
      .sections = {"sk_lookup"},
      // `netns`: the namespace file; absent, the daemon's own namespace.
      .make_params = keys::make<NetnsAttach>,
      .keys = {{"netns", keys::netns<NetnsAttach>}},
      .probe = ProbeKind::ProgType,
      .attacher = AttacherKind::NetnsLink,
      .canonical = [](const AttachSpec &a, std::string &o) { o += "netns=", o += keys::params<NetnsAttach>(a).netns; },
      .label = [](const AttachSpec &a) {
        const std::string &netns = keys::params<NetnsAttach>(a).netns;
        return netns.empty() ? std::string("netns (the daemon's)") : fmt::format("netns {}", netns);
      },
  };
  return d;
}

}  // namespace bpfrec::types
