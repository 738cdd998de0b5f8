#include "kernel/netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>

#include <cstdlib>

namespace bpfrec {

Result<NetnsGuard> NetnsGuard::enter(const std::string &path) {
  NetnsGuard g;
  if (path.empty()) return g;
  UniqueFd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target.valid()) return fail_errno(errno, "open netns {}", path);
  g.original_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!g.original_.valid()) return fail_errno(errno, "open /proc/thread-self/ns/net");
  if (::setns(target.get(), CLONE_NEWNET) != 0) {
    g.original_.reset();
    return fail_errno(errno, "enter netns {}", path);
  }
  return g;
}

NetnsGuard::~NetnsGuard() {
  // Failing to return would leave the daemon in the wrong namespace: nothing sane can follow.
  if (original_.valid() && ::setns(original_.get(), CLONE_NEWNET) != 0) std::abort();
}

Result<int> ifindex_in(const std::string &netns, const std::string &interface) {
  auto g = NetnsGuard::enter(netns);
  if (!g) return std::unexpected(g.error());
  unsigned idx = ::if_nametoindex(interface.c_str());
  if (idx == 0)
    return fail_errno(ENODEV, "interface {}{}", interface, netns.empty() ? "" : " in netns " + netns);
  return static_cast<int>(idx);
}

}  // namespace bpfrec
