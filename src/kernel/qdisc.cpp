#include "kernel/qdisc.h"

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "kernel/fs.h"
#include "kernel/rtnl_dump.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

// One rtnetlink dump of `type` with a tcmsg for `ifindex` and `parent`; calls on_msg for every
// answer until NLMSG_DONE.
Result<void> tc_dump(uint16_t type, int ifindex, uint32_t parent, const std::function<void(const nlmsghdr *)> &on_msg) {
  auto fd = open_rtnl();
  if (!fd) return std::unexpected(fd.error());
  tcmsg req{};
  req.tcm_family = AF_UNSPEC;
  req.tcm_ifindex = ifindex;
  req.tcm_parent = parent;
  return rtnl_request(fd->get(), type, &req, sizeof req, on_msg);
}

// TCA_KIND of a qdisc or filter message.
std::string kind_of(const nlmsghdr *h) {
  int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(tcmsg)));
  for (auto *a = reinterpret_cast<const rtattr *>(static_cast<const char *>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(tcmsg)));
       RTA_OK(a, len); a = RTA_NEXT(a, len))
    if (a->rta_type == TCA_KIND)
      return std::string(static_cast<const char *>(RTA_DATA(a)), strnlen(static_cast<const char *>(RTA_DATA(a)), RTA_PAYLOAD(a)));
  return {};
}

std::string netns_inode() {
  struct stat st{};
  return ::stat("/proc/thread-self/ns/net", &st) == 0 ? std::to_string(st.st_ino) : "0";
}

std::string marker_dir(const std::string &pin_root) { return pin_root + "/_clsact"; }
std::string marker(const std::string &pin_root, int ifindex) {
  return fmt::format("{}/{}-{}", marker_dir(pin_root), netns_inode(), ifindex);
}

// Drops markers of this netns whose interface is gone (its qdisc went with it).
void collect_dead_markers(const std::string &pin_root) {
  const std::string prefix = netns_inode() + "-";
  for (const auto &m : list_dir(marker_dir(pin_root))) {
    if (!m.starts_with(prefix)) continue;
    const unsigned idx = static_cast<unsigned>(std::strtoul(m.c_str() + prefix.size(), nullptr, 10));
    char name[IF_NAMESIZE];
    if (idx == 0 || if_indextoname(idx, name) == nullptr) (void)::rmdir((marker_dir(pin_root) + "/" + m).c_str());
  }
  (void)::rmdir(marker_dir(pin_root).c_str());  // only when empty
}

}  // namespace

Result<std::string> ingress_slot_qdisc(int ifindex) {
  std::string kind;
  auto r = tc_dump(RTM_GETQDISC, ifindex, 0, [&](const nlmsghdr *h) {
    if (h->nlmsg_type != RTM_NEWQDISC || h->nlmsg_len < NLMSG_LENGTH(sizeof(tcmsg))) return;
    const auto *tc = static_cast<const tcmsg *>(NLMSG_DATA(h));
    if (tc->tcm_ifindex == ifindex && tc->tcm_parent == TC_H_INGRESS) kind = kind_of(h);
  });
  if (!r) return std::unexpected(r.error());
  return kind;
}

Result<bool> clsact_has_filters(int ifindex) {
  bool any = false;
  for (uint32_t minor : {TC_H_MIN_INGRESS, TC_H_MIN_EGRESS}) {
    auto r = tc_dump(RTM_GETTFILTER, ifindex, TC_H_MAKE(TC_H_CLSACT, minor), [&](const nlmsghdr *h) {
      if (h->nlmsg_type == RTM_NEWTFILTER) any = true;
    });
    if (!r) return std::unexpected(r.error());
  }
  return any;
}

Result<void> ensure_clsact(const std::string &pin_root, int ifindex, const std::string &label) {
  auto kind = ingress_slot_qdisc(ifindex);
  if (!kind) return fail_errno(kind.error().code, "qdiscs of {}: {}", label, kind.error().message);
  if (*kind == "clsact") return {};
  if (*kind == "ingress")
    return fail(Error{EEXIST, fmt::format("{} has a classic 'ingress' qdisc (ffff:), not clsact; a cls_bpf filter "
                                          "there would run on incoming packets whatever its direction, so nothing "
                                          "is attached (as bpfman does, bpfman#468). The qdisc is left alone: "
                                          "remove it (tc qdisc del dev <interface> ingress) or use TCX",
                                          label)});
  if (!kind->empty())
    return fail(Error{EEXIST, fmt::format("{} has a '{}' qdisc in the ingress/clsact slot; cls_bpf needs clsact, "
                                          "so nothing is attached and that qdisc is left alone", label, *kind)});
  collect_dead_markers(pin_root);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  if (int err = bpf_tc_hook_create(&hook); err == -EEXIST) {
    return ensure_clsact(pin_root, ifindex, label);  // somebody was quicker: look again
  } else if (err) {
    return fail_errno(err, "create clsact qdisc on {}", label);
  }
  (void)make_dirs(marker_dir(pin_root));
  (void)::mkdir(marker(pin_root, ifindex).c_str(), 0700);
  return {};
}

void release_clsact(const std::string &pin_root, int ifindex) {
  const std::string mine = marker(pin_root, ifindex);
  struct stat st{};
  if (::stat(mine.c_str(), &st) != 0) return;  // not created by us: never ours to delete
  auto busy = clsact_has_filters(ifindex);
  if (!busy || *busy) return;
  if (auto kind = ingress_slot_qdisc(ifindex); kind && *kind == "clsact") {
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    (void)bpf_tc_hook_destroy(&hook);
  }
  (void)::rmdir(mine.c_str());
  collect_dead_markers(pin_root);
}

}  // namespace bpfrec
