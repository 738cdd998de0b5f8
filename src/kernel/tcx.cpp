// TCX ordering by priority and the proceed_on rules of the TC mechanisms (see tc_shared.h).
#include <net/if.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernel/attach.h"
#include "kernel/netns.h"
#include "kernel/tc_shared.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

// Linux 6.6 UAPI that libbpf 1.1.2's copy lacks (include/uapi/linux/bpf.h).
constexpr uint32_t kBpfTcxIngress = 46;
constexpr uint32_t kBpfTcxEgress = 47;
constexpr uint32_t kBpfFBefore = 1u << 3;
constexpr uint32_t kBpfFAfter = 1u << 4;
constexpr uint32_t kBpfFId = 1u << 5;
constexpr uint32_t kBpfFLink = 1u << 13;

// union bpf_attr's link_create with the tcx member (Linux 6.6), padded with zeros: the kernel
// accepts a larger attr when the tail it does not know is zero.
struct LinkCreateTcx {
  uint32_t prog_fd;
  uint32_t target_ifindex;
  uint32_t attach_type;
  uint32_t flags;
  uint32_t relative_id;  // relative_fd / relative_id
  uint32_t pad;
  uint64_t expected_revision;
  uint8_t tail[96];
};
static_assert(offsetof(LinkCreateTcx, relative_id) == 16 && offsetof(LinkCreateTcx, expected_revision) == 24);

// union bpf_attr's query (Linux 6.6).
struct ProgQueryTcx {
  uint32_t target_ifindex;
  uint32_t attach_type;
  uint32_t query_flags;
  uint32_t attach_flags;
  uint64_t prog_ids;
  uint32_t count;
  uint32_t pad;
  uint64_t prog_attach_flags;
  uint64_t link_ids;
  uint64_t link_attach_flags;
  uint64_t revision;
  uint8_t tail[64];
};
static_assert(offsetof(ProgQueryTcx, link_ids) == 40 && offsetof(ProgQueryTcx, revision) == 56);

}  // namespace

bool probe_tcx() {
  // The loopback interface exists in every netns; ifindex 1 in ours.
  auto r = tcx_query(static_cast<int>(if_nametoindex("lo")), false);
  return r.has_value();
}

Result<TcxHookState> tcx_query(int ifindex, bool egress) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::vector<uint32_t> progs(64), links(64);
    ProgQueryTcx q{};
    q.target_ifindex = static_cast<uint32_t>(ifindex);
    q.attach_type = egress ? kBpfTcxEgress : kBpfTcxIngress;
    q.prog_ids = reinterpret_cast<uintptr_t>(progs.data());
    q.link_ids = reinterpret_cast<uintptr_t>(links.data());
    q.count = static_cast<uint32_t>(progs.size());
    if (::syscall(__NR_bpf, BPF_PROG_QUERY, &q, sizeof q) != 0) {
      if (errno == ENOSPC) continue;  // more than 64: unlikely; give up after a few tries
      return fail_errno(errno, "query TCX {} of ifindex {}", egress ? "egress" : "ingress", ifindex);
    }
    TcxHookState s;
    s.prog_ids.assign(progs.begin(), progs.begin() + std::min<uint32_t>(q.count, 64));
    s.link_ids.assign(links.begin(), links.begin() + std::min<uint32_t>(q.count, 64));
    s.revision = q.revision;
    return s;
  }
  return fail_errno(ENOSPC, "query TCX of ifindex {}: more than 64 programs", ifindex);
}

Result<AttachRecord> attach_tcx_ordered(int prog_fd, const std::string &program, const AttachSpec &spec,
                                        const std::string &link_pin, const std::map<uint32_t, TcxPeer> &ours) {
  const auto *tc = spec.get_if<TcAttach>();
  if (!tc) return wrong_params("tcx");
  const TcAttach &a = *tc;
  AttachRecord rec;
  rec.mechanism = Mechanism::Tcx;
  rec.target = spec.target_label(ProgramType::Tc);
  rec.netns = a.netns;
  rec.egress = a.direction == TcDirection::Egress;
  auto ns = NetnsGuard::enter(a.netns);
  if (!ns) return std::unexpected(ns.error());
  const unsigned idx = if_nametoindex(a.interface.c_str());
  if (idx == 0) return fail_errno(ENODEV, "interface {}", rec.target);
  rec.ifindex = static_cast<int>(idx);
  const auto key = std::make_pair(a.priority, program);
  UniqueFd link;
  for (int attempt = 0;; ++attempt) {
    auto hook = tcx_query(rec.ifindex, rec.egress);
    if (!hook) return fail_errno(hook.error().code, "attach TCX to {}: {}", rec.target, hook.error().message);
    // Our links on this hook, in run order.
    uint32_t before = 0, after = 0;
    for (uint32_t lid : hook->link_ids) {
      auto it = ours.find(lid);
      if (lid == 0 || it == ours.end()) continue;
      if (before == 0 && std::make_pair(it->second.priority, it->second.program) > key) before = lid;
      after = lid;
    }
    LinkCreateTcx attr{};
    attr.prog_fd = static_cast<uint32_t>(prog_fd);
    attr.target_ifindex = idx;
    attr.attach_type = rec.egress ? kBpfTcxEgress : kBpfTcxIngress;
    attr.expected_revision = hook->revision;
    if (before) {
      attr.flags = kBpfFBefore | kBpfFId | kBpfFLink;
      attr.relative_id = before;
    } else if (after) {
      attr.flags = kBpfFAfter | kBpfFId | kBpfFLink;
      attr.relative_id = after;
    }
    link.reset(static_cast<int>(::syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr)));
    if (link.valid()) break;
    // ESTALE: the hook changed since the query (revision); ENOENT: the anchor link went away.
    if ((errno == ESTALE || (errno == ENOENT && (before || after))) && attempt < 8) continue;
    return fail_errno(errno, "attach TCX to {}{}", rec.target,
                      before  ? fmt::format(" before our link {}", before)
                      : after ? fmt::format(" after our link {}", after)
                              : std::string());
  }
  if (bpf_obj_pin(link.get(), link_pin.c_str()) != 0) return fail_errno(errno, "pin link {}", link_pin);
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0) rec.link_id = info.id;
  return rec;
}

bool same_tc_hook(const AttachSpec &sx, const AttachSpec &sy) {
  const auto *x = sx.get_if<TcAttach>(), *y = sy.get_if<TcAttach>();
  return x && y && x->netns == y->netns && x->interface == y->interface && x->direction == y->direction;
}

}  // namespace bpfrec
