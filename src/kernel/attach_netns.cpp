#include "kernel/attach_netns.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "kernel/attach.h"
#include "kernel/netns.h"
#include "types/type.h"
#include "util/unique_fd.h"

namespace bpfrec {

Result<AttachRecord> attach_netns_link(int prog_fd, ProgramType t, const AttachSpec &a, const std::string &link_pin) {
  AttachRecord rec;
  rec.mechanism = Mechanism::Link;
  rec.target = a.target_label(t);
  const auto *n = a.get_if<NetnsAttach>();
  if (!n) return wrong_params("netns link");
  // Entered and left again (NetnsGuard checks the file is a network namespace, without blocking
  // on a FIFO); the link's target is the thread's namespace (thread-self: setns(2) is per thread).
  UniqueFd ns;
  {
    auto in = NetnsGuard::enter(n->netns);
    if (!in) return std::unexpected(in.error());
    ns.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) return fail_errno(errno, "open /proc/thread-self/ns/net{}", n->netns.empty() ? "" : " in " + n->netns);
  }
  const TypeDescriptor &d = descriptor(t);
  UniqueFd link(bpf_link_create(prog_fd, ns.get(), static_cast<bpf_attach_type>(d.expected_attach_type), nullptr));
  if (!link.valid()) return fail_errno(errno, "attach {} to {}", d.name, rec.target);
  // The pin keeps the link (and the attachment) alive once the fd closes.
  if (bpf_obj_pin(link.get(), link_pin.c_str()) != 0) return fail_errno(errno, "pin link {}", link_pin);
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0) rec.link_id = info.id;
  return rec;
}

}  // namespace bpfrec
