#include "kernel/rtnl_dump.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "kernel/rtnl.h"

namespace bpfrec {

Result<UniqueFd> open_rtnl() {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) return fail_errno(errno, "rtnetlink socket");
  return fd;
}

Result<void> rtnl_request(int fd, uint16_t type, const void *payload, size_t len,
                          const std::function<void(const nlmsghdr *)> &on_msg, uint16_t flags) {
  static uint32_t seq = 0;
  constexpr size_t kLargest = std::max({sizeof(ifinfomsg), sizeof(rtmsg), sizeof(tcmsg)});
  alignas(nlmsghdr) std::array<char, NLMSG_SPACE(kLargest)> req{};
  if (NLMSG_LENGTH(len) > req.size()) return fail_errno(EINVAL, "rtnetlink request of {} bytes is too long", len);
  auto *nh = reinterpret_cast<nlmsghdr *>(req.data());
  nh->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
  nh->nlmsg_type = type;
  nh->nlmsg_flags = flags;
  nh->nlmsg_seq = ++seq;
  std::memcpy(NLMSG_DATA(nh), payload, len);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, req.data(), nh->nlmsg_len, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0)
    return fail_errno(errno, "rtnetlink request");
  // Dump parts are at most 32 KiB (NLMSG_GOODSIZE is smaller still); a bigger buffer never truncates.
  alignas(nlmsghdr) static char buf[65536];
  bool interrupted = false;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "rtnetlink answer");
    }
    std::optional<Result<void>> end;
    each_netlink_message(buf, static_cast<size_t>(n), [&](const nlmsghdr *h) {
      if (end) return;
      const DumpStep step = classify_dump_message(h, nh->nlmsg_seq, (flags & NLM_F_ACK) != 0);
      interrupted |= step.interrupted;
      switch (step.kind) {
        case DumpStep::Skip: return;
        case DumpStep::Message: on_msg(h); return;
        case DumpStep::Done:
          if (interrupted) end.emplace(fail_errno(EAGAIN, "rtnetlink dump interrupted"));
          else end.emplace();
          return;
        case DumpStep::Ack: end.emplace(); return;  // the ack that ends a single request
        case DumpStep::Error: end.emplace(fail_errno(step.error, "rtnetlink request")); return;
      }
    });
    if (end) return *end;
  }
}

}  // namespace bpfrec
