// libFuzzer target: the rtnetlink message parsing of kernel/rtnl.h (what the interface
// inventory reads from dumps and the link watcher from notifications) on arbitrary bytes, as
// one recv() buffer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "kernel/rtnl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // An exact-size heap copy: aligned like a recv() buffer of nlmsghdr (operator new gives 16
  // bytes), and ASan sees any read past its end.
  std::unique_ptr<char[]> copy(new char[size ? size : 1]);
  char *buf = copy.get();
  if (size) std::memcpy(buf, data, size);
  size_t messages = 0;
  bpfrec::each_netlink_message(buf, size, [&](const nlmsghdr *h) {
    if (h->nlmsg_len < sizeof(nlmsghdr) || reinterpret_cast<const char *>(h) + h->nlmsg_len > buf + size)
      __builtin_trap();
    ++messages;
    (void)bpfrec::classify_dump_message(h, h->nlmsg_seq, true);
    (void)bpfrec::classify_dump_message(h, h->nlmsg_seq, false);
    if (auto l = bpfrec::parse_rtnl_link(h)) {
      if (l->name.size() > h->nlmsg_len) __builtin_trap();
    }
    (void)bpfrec::parse_rtnl_default_route(h, AF_INET);
    (void)bpfrec::parse_rtnl_default_route(h, AF_INET6);
    (void)bpfrec::is_link_watch_event(h);
  });
  if (messages > size / sizeof(nlmsghdr)) __builtin_trap();
  return 0;
}
