// Programs on our hooks that another loader put there: a foreign TCX link made without the
// daemon, for the tests that check the daemon leaves it alone.
#pragma once

#include <cstdint>
#include <string>

namespace it {

/// A TCX ingress link that is not ours: `object` (tc_counter) loaded and pinned by bpftool,
/// linked with a raw BPF_LINK_CREATE inside netns `ns` on `ifname` and pinned outside our pin
/// root (/sys/fs/bpf/foreign-tcx-*). `error` is non-empty when any step failed; the pins are
/// removed by the destructor (the link goes with its last reference).
struct ForeignTcx {
  std::string prog_pin, link_pin, error;
  std::uint32_t prog_id = 0, link_id = 0;

  ForeignTcx(const std::string& ns, const std::string& ifname, const std::string& object);
  ~ForeignTcx();
  ForeignTcx(const ForeignTcx&) = delete;
  ForeignTcx& operator=(const ForeignTcx&) = delete;
};

}  // namespace it
