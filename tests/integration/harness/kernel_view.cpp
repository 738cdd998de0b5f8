#include "harness/kernel_view.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "harness/internal.h"

namespace it {

using detail::kBpfTcxEgress;
using detail::kBpfTcxIngress;

namespace {

long sys_bpf(int cmd, union bpf_attr* attr) {
  return ::syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int raw_obj_get(const std::string& path) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.pathname = reinterpret_cast<std::uintptr_t>(path.c_str());
  attr.file_flags = BPF_F_RDONLY;
  int fd = static_cast<int>(sys_bpf(BPF_OBJ_GET, &attr));
  if (fd < 0 && errno == EINVAL) {  // links and programs refuse access flags
    attr.file_flags = 0;
    fd = static_cast<int>(sys_bpf(BPF_OBJ_GET, &attr));
  }
  return fd;
}

bool raw_info(int fd, void* info, std::uint32_t len) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = static_cast<std::uint32_t>(fd);
  attr.info.info_len = len;
  attr.info.info = reinterpret_cast<std::uintptr_t>(info);
  return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) == 0;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  bool ok() const { return fd >= 0; }
};

std::optional<RawProg> raw_prog_of_fd(int fd) {
  bpf_prog_info info{};
  std::uint32_t map_ids[64] = {};
  info.nr_map_ids = 64;
  info.map_ids = reinterpret_cast<std::uintptr_t>(map_ids);
  if (!raw_info(fd, &info, sizeof info)) return std::nullopt;
  RawProg p;
  p.id = info.id;
  p.name = std::string(info.name, strnlen(info.name, sizeof info.name));
  p.map_ids.assign(map_ids, map_ids + std::min<std::uint32_t>(info.nr_map_ids, 64));
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned char c : info.tag) p.tag += {hex[c >> 4], hex[c & 15]};
  return p;
}

// Runs fn on a short-lived thread inside /run/netns/<ns> (setns moves only the calling thread).
template <typename F>
void in_netns(const std::string& ns, F&& fn) {
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    if (ok) fn();
  });
  t.join();
}

}  // namespace

std::optional<std::vector<std::uint32_t>> xdp_ids_nl(int nl, unsigned ifindex) {
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
  } req{};
  static std::atomic<std::uint32_t> seq{1};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = seq++;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ifi.ifi_index = static_cast<int>(ifindex);
  if (::send(nl, &req, sizeof req, 0) < 0) return std::nullopt;
  alignas(nlmsghdr) static thread_local char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(nl, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_seq != req.nh.nlmsg_seq) continue;  // a stale answer
      if (nh->nlmsg_type == NLMSG_ERROR) return std::nullopt;
      if (nh->nlmsg_type != RTM_NEWLINK) continue;
      auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nh));
      int alen = static_cast<int>(IFLA_PAYLOAD(nh));
      std::vector<std::uint32_t> ids;
      for (auto* rta = IFLA_RTA(ifi); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
        if ((rta->rta_type & ~NLA_F_NESTED) != IFLA_XDP) continue;
        int xlen = static_cast<int>(RTA_PAYLOAD(rta));
        for (auto* x = static_cast<rtattr*>(RTA_DATA(rta)); RTA_OK(x, xlen); x = RTA_NEXT(x, xlen)) {
          const int t = x->rta_type;
          if (t == IFLA_XDP_PROG_ID || t == IFLA_XDP_DRV_PROG_ID || t == IFLA_XDP_SKB_PROG_ID ||
              t == IFLA_XDP_HW_PROG_ID) {
            std::uint32_t id = 0;
            std::memcpy(&id, RTA_DATA(x), sizeof id);
            if (id != 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
          }
        }
      }
      std::sort(ids.begin(), ids.end());
      return ids;
    }
  }
}

std::optional<std::vector<std::uint32_t>> tcx_ids_here(unsigned ifindex, bool ingress) {
  std::uint32_t ids[64] = {};
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.query.target_fd = ifindex;
  attr.query.attach_type = ingress ? kBpfTcxIngress : kBpfTcxEgress;
  attr.query.prog_ids = reinterpret_cast<std::uintptr_t>(ids);
  attr.query.prog_cnt = 64;
  if (sys_bpf(BPF_PROG_QUERY, &attr) != 0) return std::nullopt;
  std::vector<std::uint32_t> out(ids, ids + std::min<std::uint32_t>(attr.query.prog_cnt, 64));
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::uint32_t> raw_pinned_prog_id(const std::string& path) {
  Fd fd(raw_obj_get(path));
  if (!fd.ok()) return std::nullopt;
  const auto p = raw_prog_of_fd(fd.fd);
  if (!p) return std::nullopt;
  return p->id;
}

std::optional<std::uint32_t> raw_pinned_map_id(const std::string& path) {
  Fd fd(raw_obj_get(path));
  if (!fd.ok()) return std::nullopt;
  bpf_map_info info{};
  if (!raw_info(fd.fd, &info, sizeof info)) return std::nullopt;
  return info.id;
}

std::optional<RawLink> raw_pinned_link(const std::string& path) {
  Fd fd(raw_obj_get(path));
  if (!fd.ok()) return std::nullopt;
  bpf_link_info info{};
  if (!raw_info(fd.fd, &info, sizeof info)) return std::nullopt;
  return RawLink{info.id, info.prog_id, info.type};
}

std::optional<RawProg> raw_prog(std::uint32_t id) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_id = id;
  Fd fd(static_cast<int>(sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr)));
  if (!fd.ok()) return std::nullopt;
  return raw_prog_of_fd(fd.fd);
}

std::vector<RawProg> kernel_progs_named(const std::vector<std::string>& names) {
  std::vector<RawProg> out;
  std::uint32_t id = 0;
  for (;;) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.start_id = id;
    if (sys_bpf(BPF_PROG_GET_NEXT_ID, &attr) != 0) break;
    id = attr.next_id;
    const auto p = raw_prog(id);
    if (!p) continue;  // freed in between
    for (const auto& n : names)
      if (p->name == n.substr(0, 15)) out.push_back(*p);
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> raw_map_value0(const std::string& map_pin) {
  Fd fd(raw_obj_get(map_pin));
  if (!fd.ok()) return std::nullopt;
  bpf_map_info info{};
  if (!raw_info(fd.fd, &info, sizeof info) || info.key_size != 4) return std::nullopt;
  std::vector<std::uint8_t> value(info.value_size);
  std::uint32_t key = 0;
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_fd = static_cast<std::uint32_t>(fd.fd);
  attr.key = reinterpret_cast<std::uintptr_t>(&key);
  attr.value = reinterpret_cast<std::uintptr_t>(value.data());
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) != 0) return std::nullopt;
  return value;
}

std::optional<std::uint32_t> raw_map_u32(const std::string& map_pin) {
  const auto v = raw_map_value0(map_pin);
  if (!v || v->size() < 4) return std::nullopt;
  return static_cast<std::uint32_t>((*v)[0] | ((*v)[1] << 8) | ((*v)[2] << 16) | ((*v)[3] << 24));
}

std::optional<std::vector<std::uint32_t>> xdp_ids_netlink(const std::string& ns, const std::string& ifname) {
  std::optional<std::vector<std::uint32_t>> out;
  in_netns(ns, [&] {
    const unsigned ifindex = ::if_nametoindex(ifname.c_str());
    if (ifindex == 0) return;
    const int nl = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0) return;
    out = xdp_ids_nl(nl, ifindex);
    ::close(nl);
  });
  return out;
}

}  // namespace it
