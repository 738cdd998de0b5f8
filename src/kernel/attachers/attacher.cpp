#include "kernel/attachers/attacher.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstdio>

#include "kernel/attach.h"

namespace bpfrec {

void show_live(const Check &c, AttachRecord &r) {
  if (c.live == LiveId::Link) r.link_id = c.live_id;
  else if (c.live == LiveId::Program) r.prog_id = c.live_id;
}

Result<UniqueFd> open_prog(const ObservedProgram &prog) {
  UniqueFd fd(bpf_obj_get(PinLayout::prog(prog.dir).c_str()));
  if (!fd.valid() && prog.prog_id) fd.reset(bpf_prog_get_fd_by_id(prog.prog_id));
  if (!fd.valid()) return fail_errno(errno, "open {}", PinLayout::prog(prog.dir));
  return fd;
}

Result<bool> Attacher::swap(AttachContext &, const SwapRequest &r) {
  return fail_errno(EOPNOTSUPP, "swap {} at {}: {} attachments are not swapped in place", r.from.name, r.key,
                    to_string(mechanism()));
}

Attachers::Attachers() {
  for (auto make : {make_xdp_attacher, make_xdp_dispatcher_attacher, make_tc_attacher, make_tcx_attacher,
                    make_tc_dispatcher_attacher, make_perf_link_attacher, make_link_attacher}) {
    auto a = make();
    const auto i = static_cast<size_t>(a->mechanism());
    by_mechanism_[i] = std::move(a);  // every Mechanism has one: the list above is all seven
  }
}

Attacher &Attachers::attacher_for(Mechanism m) const { return *by_mechanism_[static_cast<size_t>(m)]; }

Result<bool> PinnedLinkAttacher::swap(AttachContext &, const SwapRequest &r) {
  if (auto s = swap_pinned_link(r.from.dir, r.to.dir, r.key, r.old_fd, r.new_fd); !s) return std::unexpected(s.error());
  return false;
}

Result<void> PinnedLinkAttacher::detach(AttachContext &, const ObservedProgram &prog, const AttachRecord &rec) {
  return detach_pinned_link(PinLayout::link(prog.dir, rec.key));
}

Result<void> swap_pinned_link(const std::string &from_dir, const std::string &to_dir, const std::string &key,
                              int old_fd, int new_fd) {
  const std::string old_pin = PinLayout::link(from_dir, key), new_pin = PinLayout::link(to_dir, key);
  if (auto r = update_pinned_link(old_pin, new_fd); !r) return r;
  if (::rename(old_pin.c_str(), new_pin.c_str()) != 0) {
    const int err = errno;
    (void)update_pinned_link(old_pin, old_fd);
    return fail_errno(err, "move link pin {}", old_pin);
  }
  return {};
}

}  // namespace bpfrec
