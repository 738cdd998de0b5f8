// Running netlink and ifindex-based operations inside another network namespace.
#pragma once

#include <string>

#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {

/// Enters the network namespace at `path` (e.g. /run/netns/blue) for the current thread and
/// returns to the previous one on destruction. An empty path means "stay where we are".
/// setns(2) applies to the calling thread only; the daemon is single-threaded.
class NetnsGuard {
 public:
  /// Errors: the namespace file cannot be opened or setns(2) fails (EPERM without CAP_SYS_ADMIN).
  static Result<NetnsGuard> enter(const std::string &path);
  NetnsGuard(NetnsGuard &&) = default;
  NetnsGuard &operator=(NetnsGuard &&) = delete;
  ~NetnsGuard();

 private:
  NetnsGuard() = default;
  UniqueFd original_;
};

/// Resolves an interface name to its ifindex inside `netns` ("" = ours).
/// Errors: the namespace cannot be entered, or no such interface (ENODEV).
Result<int> ifindex_in(const std::string &netns, const std::string &interface);

}  // namespace bpfrec
