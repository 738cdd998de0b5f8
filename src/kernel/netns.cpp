#include "kernel/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cstdlib>

#include "load/files.h"

namespace bpfrec {

Result<NetnsGuard> NetnsGuard::enter(const std::string &path) {
  NetnsGuard g;
  if (path.empty()) return g;
  // O_NONBLOCK: a FIFO at the path would block open() (and the event loop) until a writer comes.
  UniqueFd target(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!target.valid()) return fail_errno(errno, "open netns {}", path);
  // NS_GET_NSTYPE (Linux 4.11) answers only on an nsfs file; anything else is ENOTTY.
  const int type = ::ioctl(target.get(), NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    std::string what;
    if (type >= 0) {
      what = "another kind of namespace";
    } else {
      struct stat st {};
      what = ::fstat(target.get(), &st) != 0 ? "unknown" : S_ISREG(st.st_mode) ? "a regular file" : not_regular_reason(st);
    }
    return fail(Error{EINVAL, fmt::format("netns {} is not a network namespace ({})", path, what)});
  }
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
