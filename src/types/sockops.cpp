// sockops (BPF_PROG_TYPE_SOCK_OPS: TCP events of a cgroup's sockets, such as connect, active and
// passive establishment, RTO, state changes; it may set socket options), a BPF_LINK_CREATE with
// BPF_CGROUP_SOCK_OPS on a cgroup v2 directory; its links update in place.
#include <linux/bpf.h>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

const TypeDescriptor &sockops() {
  static const TypeDescriptor d{
      .type = ProgramType::Sockops,
      .name = "sockops",
      .prog_type = BPF_PROG_TYPE_SOCK_OPS,
      .sections = {"sockops"},
      .make_params = keys::make<CgroupAttach>,
      .keys = {{"cgroup", keys::cgroup}},
      .required = {{"cgroup"}},
      .link_updatable = true,
      .probe = ProbeKind::ProgType,
      .attacher = AttacherKind::Cgroup,
      .canonical = [](const AttachSpec &a, std::string &o) { o += "cgroup=", o += keys::params<CgroupAttach>(a).cgroup; },
      .label = [](const AttachSpec &a) { return keys::params<CgroupAttach>(a).cgroup; },
      .kernel_attach_type = [](const AttachSpec &) -> uint32_t { return BPF_CGROUP_SOCK_OPS; },
  };
  return d;
}

}  // namespace bpfrec::types
