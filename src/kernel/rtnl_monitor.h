// An rtnetlink socket subscribed to multicast groups inside one network namespace: the kernel
// side of the daemon's interface watch (daemon/link_watch.cpp judges what the messages mean and
// owns the event loop source). rtnetlink(7), netlink(7).
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <string>

#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {

/// Inode of the network namespace at `path` ("" = the calling thread's), 0 when it cannot be
/// stat()ed: the namespace's identity (a file deleted and made again names another one).
unsigned long netns_inode(const std::string &path);

class RtnlMonitor {
 public:
  /// Opens a non-blocking NETLINK_ROUTE socket in `netns` ("" = ours), bound to `groups`
  /// (RTMGRP_* bits), with a 4 MiB receive buffer (SO_RCVBUFFORCE, else the sysctl's maximum),
  /// and sends one RTM_GETLINK dump with sequence number `dump_seq`: its replies carry portid()
  /// so the caller can tell them from events. Errors: the namespace cannot be entered; socket,
  /// bind, getsockname or send failed (errno kept).
  static Result<RtnlMonitor> open(const std::string &netns, uint32_t groups, uint32_t dump_seq);

  /// Reads every message queued now and calls `each` for each one (in order). Returns true when
  /// messages were lost (ENOBUFS: the buffer overflowed), which the caller must treat as "anything
  /// may have changed". Stops at EAGAIN; EINTR is retried.
  bool drain(const std::function<void(const nlmsghdr *)> &each);

  int fd() const { return fd_.get(); }
  uint32_t portid() const { return portid_; }
  unsigned long netns_ino() const { return ino_; }
  uint32_t groups() const { return groups_; }

 private:
  RtnlMonitor() = default;
  UniqueFd fd_;
  uint32_t portid_ = 0;
  unsigned long ino_ = 0;
  uint32_t groups_ = 0;
};

}  // namespace bpfrec
