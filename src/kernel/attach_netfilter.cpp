#include "kernel/attach_netfilter.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "kernel/attach.h"
#include "kernel/netns.h"
#include "types/type.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

// union bpf_attr's link_create with the netfilter member (Linux 6.4; libbpf 1.1.2's uapi copy
// lacks it), padded with zeros: the kernel accepts a larger attr when the tail it does not know
// is zero.
struct LinkCreateNetfilter {
  uint32_t prog_fd;
  uint32_t target_fd;  // unused: the link is in the calling thread's network namespace
  uint32_t attach_type;
  uint32_t flags;
  uint32_t pf;
  uint32_t hooknum;
  int32_t priority;
  uint32_t nf_flags;  // BPF_F_NETFILTER_IP_DEFRAG (6.6) not used
  uint64_t pad[4];
};

}  // namespace

Result<AttachRecord> attach_netfilter(int prog_fd, const AttachSpec &spec, const std::string &link_pin) {
  const auto *nf = spec.get_if<NetfilterAttach>();
  if (!nf) return wrong_params("netfilter");
  const NetfilterAttach &a = *nf;
  const TypeDescriptor &d = descriptor(ProgramType::Netfilter);
  AttachRecord rec;
  rec.mechanism = Mechanism::Link;
  rec.target = spec.target_label(ProgramType::Netfilter);
  const auto hook = types::netfilter_hook(a.hook);
  if (!hook) return fail_errno(EINVAL, "netfilter hook '{}' is unknown", a.hook);
  LinkCreateNetfilter attr{};
  attr.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = d.expected_attach_type;
  attr.pf = hook->first;
  attr.hooknum = hook->second;
  attr.priority = a.priority;
  UniqueFd link;
  {
    // The kernel registers the hook in the calling thread's namespace: enter, link, leave.
    auto in = NetnsGuard::enter(a.netns);
    if (!in) return std::unexpected(in.error());
    link.reset(static_cast<int>(::syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr)));
  }
  if (!link.valid() && errno == ERANGE)
    return fail_errno(ERANGE, "attach netfilter to {}: the kernel refuses priority {}", rec.target, a.priority);
  if (!link.valid()) return fail_errno(errno, "attach netfilter to {}", rec.target);
  // The pin keeps the link (and the hook) alive once the fd closes.
  if (bpf_obj_pin(link.get(), link_pin.c_str()) != 0) return fail_errno(errno, "pin link {}", link_pin);
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0) rec.link_id = info.id;
  return rec;
}

}  // namespace bpfrec
