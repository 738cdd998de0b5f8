#include "kernel/attach.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/if_link.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>

#include "kernel/inventory.h"
#include "kernel/rtnl_dump.h"
#include "kernel/netns.h"
#include "kernel/perf_pmu.h"
#include "load/files.h"
#include "util/ld_cache.h"
#include "util/sha256.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

// Not in libbpf 1.1.2's UAPI copy: the TCX link type (Linux 6.6).
constexpr uint32_t kBpfLinkTypeTcx = 11;

// xdp_program__close() frees libxdp's description and does not detach. For a program made
// with xdp_program__from_fd(), libxdp 1.3.1 does not close that fd either (measured): the
// caller keeps owning it.
struct XdpProgramCloser {
  void operator()(xdp_program *p) const { xdp_program__close(p); }
};
using XdpProgram = std::unique_ptr<xdp_program, XdpProgramCloser>;
// xdp_multiprog describes the interface's XDP hook; closing it frees the description only.
struct MultiprogCloser {
  void operator()(xdp_multiprog *m) const { xdp_multiprog__close(m); }
};
using Multiprog = std::unique_ptr<xdp_multiprog, MultiprogCloser>;

std::string libxdp_error(int err) {
  char buf[256] = {};
  libxdp_strerror(err, buf, sizeof buf);
  return buf;
}

// `prog_fd` stays owned by the caller and must outlive the returned handle.
Result<XdpProgram> xdp_from_fd(int prog_fd) {
  XdpProgram p(xdp_program__from_fd(prog_fd));
  if (long err = libxdp_get_error(p.get())) {
    (void)p.release();
    return fail("libxdp cannot use program fd: {}", libxdp_error(static_cast<int>(err)));
  }
  return p;
}

std::string prog_name_of_id(uint32_t id) {
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd.valid()) return {};
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  return bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 ? std::string(info.name) : std::string();
}

// Program ids on an interface's XDP hook: the program alone ("legacy" in libxdp's words), or a
// libxdp dispatcher's components. The plain case is answered with one RTM_GETLINK for the
// interface (read_xdp_hook; bpf_xdp_query() would dump every link), not through libxdp: libxdp
// 1.3.1's xdp_multiprog__get_from_ifindex() leaks a program fd on a legacy hook (measured), and
// a leaked fd keeps a detached program loaded.
//
// programs_behind: the same for a hook already known to run `main_id` (from read_xdp_hook() or
// one dump of every hook). Runs in the hook's namespace, or enters `netns` first when given: only
// a dispatcher's walk needs it.
std::vector<uint32_t> programs_behind(int ifindex, uint32_t main_id, bool *legacy = nullptr,
                                      const std::string *netns = nullptr) {
  std::vector<uint32_t> ids;
  // libxdp names its dispatcher program "xdp_dispatcher" (prog_dispatcher.h).
  if (prog_name_of_id(main_id) != "xdp_dispatcher") {
    ids.push_back(main_id);
    if (legacy) *legacy = true;
    return ids;
  }
  if (legacy) *legacy = false;
  std::optional<NetnsGuard> ns;
  if (netns) {
    auto entered = NetnsGuard::enter(*netns);
    if (!entered) return ids;
    ns.emplace(std::move(*entered));
  }
  Multiprog mp(xdp_multiprog__get_from_ifindex(ifindex));
  if (libxdp_get_error(mp.get()) || !mp) {
    (void)mp.release();
    return ids;
  }
  for (auto *p = xdp_multiprog__next_prog(nullptr, mp.get()); p; p = xdp_multiprog__next_prog(p, mp.get()))
    ids.push_back(xdp_program__id(p));
  return ids;
}

std::vector<uint32_t> xdp_hook_programs(int ifindex, bool *legacy = nullptr, uint32_t *main_id = nullptr,
                                        uint8_t *attach_mode = nullptr) {
  auto hook = read_xdp_hook(ifindex);
  if (!hook || hook->prog_id == 0) return {};
  if (main_id) *main_id = hook->prog_id;
  if (attach_mode) *attach_mode = hook->attach_mode;
  return programs_behind(ifindex, hook->prog_id, legacy);
}

// XDP_FLAGS_*_MODE for the mode (IFLA_XDP_ATTACHED) a program is attached in.
uint32_t xdp_mode_flags(uint8_t attach_mode) {
  return attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
         : attach_mode == XDP_ATTACHED_HW ? XDP_FLAGS_HW_MODE
                                          : XDP_FLAGS_DRV_MODE;
}

xdp_attach_mode to_libxdp(XdpMode m) {
  switch (m) {
    case XdpMode::Native: return XDP_MODE_NATIVE;
    case XdpMode::Skb: return XDP_MODE_SKB;
    case XdpMode::Hw: return XDP_MODE_HW;
    case XdpMode::Auto: break;
  }
  return XDP_MODE_UNSPEC;
}

Result<AttachRecord> link_perf_event(int prog_fd, UniqueFd pfd, const std::string &link_pin, AttachRecord rec) {
  UniqueFd link(bpf_link_create(prog_fd, pfd.get(), BPF_PERF_EVENT, nullptr));
  // EEXIST: this program already runs on this trace event (perf_event_attach_bpf_prog). After a
  // link pin was removed by hand, that is the old link: the kernel frees an unpinned link from
  // a workqueue (bpf_link_put -> bpf_link_put_deferred), so a repair at once can be a few ms
  // ahead of it (seen in DriftEvents.QuietReloadStillSeesAPinRemovedByHand). Wait for it, at
  // most 50 ms; a link that is really there stays an error.
  for (int i = 0; i < 10 && !link.valid() && errno == EEXIST; ++i) {
    ::usleep(5000);
    link.reset(bpf_link_create(prog_fd, pfd.get(), BPF_PERF_EVENT, nullptr));
  }
  if (!link.valid() && errno == E2BIG)
    return fail_errno(E2BIG, "create perf link for {}: the kernel runs at most 64 BPF programs per trace event "
                      "(BPF_TRACE_MAX_PROGS), and this one has them all", rec.target);
  if (!link.valid()) return fail_errno(errno, "create perf link for {}", rec.target);
  if (bpf_obj_pin(link.get(), link_pin.c_str()) != 0) return fail_errno(errno, "pin link {}", link_pin);
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0) rec.link_id = info.id;
  return rec;
}

}  // namespace

std::unexpected<Error> wrong_params(std::string_view attacher) {
  return fail(Error{EINVAL, fmt::format("{}: the attach point's parameters are another type family's", attacher)});
}

AttachRecord interface_record(const AttachSpec &a, ProgramType t, Mechanism m) {
  AttachRecord rec;
  rec.mechanism = m;
  rec.target = a.target_label(t);
  rec.netns = a.netns();
  const auto *tc = a.get_if<TcAttach>();
  rec.egress = tc && tc->direction == TcDirection::Egress;
  return rec;
}

Result<NetnsGuard> enter_interface_netns(const AttachSpec &a, AttachRecord &rec) {
  const NetIfAttach *n = a.netif();
  if (!n) return wrong_params("interface attach");
  auto ns = NetnsGuard::enter(n->netns);
  if (!ns) return ns;
  unsigned idx = if_nametoindex(n->interface.c_str());
  if (idx == 0) return fail_errno(ENODEV, "interface {}", rec.target);
  rec.ifindex = static_cast<int>(idx);
  return ns;
}

uint32_t prog_id_of(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

Result<AttachRecord> attach_xdp(int prog_fd, const AttachSpec &spec, const std::string &why_alone) {
  const auto *x = spec.get_if<XdpAttach>();
  if (!x) return wrong_params("xdp");
  const XdpAttach &a = *x;
  AttachRecord rec = interface_record(spec, ProgramType::Xdp, Mechanism::Xdp);
  auto ns = enter_interface_netns(spec, rec);
  if (!ns) return std::unexpected(ns.error());
  rec.xdp_flags = to_libxdp(a.mode);
  {
    // Already there (we were killed after attaching and before recording it): adopt it.
    auto ids = xdp_hook_programs(rec.ifindex);
    if (std::find(ids.begin(), ids.end(), prog_id_of(prog_fd)) != ids.end()) return rec;
  }
  // Straight through netlink, as libxdp does for a program alone, without first building and
  // probing a dispatcher that is not used here (measured: that doubled the attach time).
  // XDP_FLAGS_UPDATE_IF_NOEXIST: never replace a program somebody else attached.
  const uint32_t mode = a.mode == XdpMode::Native ? XDP_FLAGS_DRV_MODE
                        : a.mode == XdpMode::Skb  ? XDP_FLAGS_SKB_MODE
                        : a.mode == XdpMode::Hw   ? XDP_FLAGS_HW_MODE
                                                  : 0u;  // auto: the kernel picks driver mode where it has it
  if (int err = bpf_xdp_attach(rec.ifindex, prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST | mode, nullptr)) {
    bool legacy = false;
    uint32_t holder = 0;
    auto ids = xdp_hook_programs(rec.ifindex, &legacy, &holder);
    if (!ids.empty() && legacy)
      return fail_errno(err, "attach XDP to {}: the hook already runs program id {} on its own, and sharing it needs "
                        "libxdp's multi-program dispatcher, which is not used here ({})",
                        rec.target, holder, why_alone);
    if (!ids.empty())
      return fail_errno(err, "attach XDP to {}: the hook runs libxdp's dispatcher (program id {}), which only "
                        "programs loaded by libxdp can join, and it is not used here ({})",
                        rec.target, holder, why_alone);
    return fail_errno(err, "attach XDP to {}", rec.target);
  }
  return rec;
}

Result<void> detach_xdp(int prog_fd, const AttachRecord &r) {
  auto ns = NetnsGuard::enter(r.netns);
  if (!ns) {
    if (ns.error().code == ENOENT) return {};  // the namespace is gone, and the interface with it
    return std::unexpected(ns.error());
  }
  bool legacy = false;
  uint8_t mode = 0;
  auto ids = xdp_hook_programs(r.ifindex, &legacy, nullptr, &mode);
  const uint32_t id = prog_id_of(prog_fd);
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) return {};  // already gone
  if (legacy) {
    // Our program alone on the hook: detach it with XDP_FLAGS_REPLACE + old_prog_fd, so the
    // kernel removes it only if it is still ours. (libxdp 1.3.1's xdp_program__detach() leaks a
    // program fd on this path, which would keep the detached program loaded.)
    const uint32_t flags = XDP_FLAGS_REPLACE | xdp_mode_flags(mode);
    DECLARE_LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = prog_fd);
    if (int err = bpf_xdp_detach(r.ifindex, flags, &opts); err && err != -EEXIST)
      return fail_errno(err, "detach XDP from {}", r.target);
    return {};
  }
  auto xp = xdp_from_fd(prog_fd);
  if (!xp) return std::unexpected(xp.error());
  if (int err = xdp_program__detach(xp->get(), r.ifindex, static_cast<xdp_attach_mode>(r.xdp_flags), 0))
    return fail("detach XDP from {}: {}", r.target, libxdp_error(err));
  return {};
}

Result<void> swap_xdp(int old_fd, int new_fd, const AttachSpec &a, const AttachRecord &r) {
  {
    auto ns = NetnsGuard::enter(r.netns);
    if (!ns) return std::unexpected(ns.error());
    bool legacy = false;
    uint8_t mode = 0;
    auto ids = xdp_hook_programs(r.ifindex, &legacy, nullptr, &mode);
    const uint32_t old_id = prog_id_of(old_fd);
    if (std::find(ids.begin(), ids.end(), old_id) == ids.end())
      return fail_errno(ENOENT, "replace XDP on {}: our program is no longer there", r.target);
    if (legacy) {
      DECLARE_LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = old_fd);
      if (int err = bpf_xdp_attach(r.ifindex, new_fd, XDP_FLAGS_REPLACE | xdp_mode_flags(mode), &opts))
        return fail_errno(err, "replace XDP program on {}", r.target);
      return {};
    }
  }
  // In a dispatcher both can run side by side for a moment: add the new, then remove the old.
  if (auto n = attach_xdp(new_fd, a, "replacing a program"); !n) return std::unexpected(n.error());
  return detach_xdp(old_fd, r);
}

namespace {

// Ids of the maps program `fd` uses (bpf_prog_info.map_ids).
std::vector<uint32_t> prog_map_ids(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 || info.nr_map_ids == 0) return {};
  std::vector<uint32_t> ids(info.nr_map_ids);
  const uint32_t n = info.nr_map_ids;
  info = {};
  info.nr_map_ids = n;
  info.map_ids = reinterpret_cast<uint64_t>(ids.data());
  len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return {};
  ids.resize(std::min(n, info.nr_map_ids));
  return ids;
}

// libxdp's chain-call bitmask for bpfman's proceed_on names ("dispatcher_return" is implied:
// libxdp always adds XDP_DISPATCHER_RETVAL).
uint32_t xdp_chain_call_mask(const std::vector<std::string> &proceed_on) {
  static const std::pair<const char *, xdp_action> actions[] = {
      {"aborted", XDP_ABORTED}, {"drop", XDP_DROP}, {"pass", XDP_PASS}, {"tx", XDP_TX}, {"redirect", XDP_REDIRECT}};
  uint32_t mask = 0;
  for (auto &[name, action] : actions)
    if (std::find(proceed_on.begin(), proceed_on.end(), name) != proceed_on.end()) mask |= 1u << action;
  return mask;
}

// A component of the hook's dispatcher that is ours although no pin says so: we were killed
// between libxdp's attach and pinning it. Ours = uses one of our maps, has our priority and
// chain-call actions, and is not already claimed by another of our attach points.
uint32_t find_unclaimed_component(int ifindex, const std::vector<uint32_t> &our_map_ids, const XdpAttach &a,
                                  const std::vector<uint32_t> &claimed) {
  if (our_map_ids.empty()) return 0;
  bool legacy = true;
  (void)xdp_hook_programs(ifindex, &legacy);
  if (legacy) return 0;
  Multiprog mp(xdp_multiprog__get_from_ifindex(ifindex));
  if (libxdp_get_error(mp.get()) || !mp) {
    (void)mp.release();
    return 0;
  }
  const uint32_t mask = xdp_chain_call_mask(a.proceed_on);
  for (auto *p = xdp_multiprog__next_prog(nullptr, mp.get()); p; p = xdp_multiprog__next_prog(p, mp.get())) {
    const uint32_t id = xdp_program__id(p);
    if (std::find(claimed.begin(), claimed.end(), id) != claimed.end()) continue;
    if (xdp_program__run_prio(p) != a.priority) continue;
    uint32_t pmask = 0;
    for (unsigned act = XDP_ABORTED; act <= XDP_REDIRECT; ++act)
      if (xdp_program__chain_call_enabled(p, static_cast<xdp_action>(act))) pmask |= 1u << act;
    if (pmask != mask) continue;
    for (uint32_t m : prog_map_ids(xdp_program__fd(p)))
      if (std::find(our_map_ids.begin(), our_map_ids.end(), m) != our_map_ids.end()) return id;
  }
  return 0;
}

}  // namespace

Result<AttachRecord> attach_xdp_component(bpf_object *obj, bpf_program *prog, const AttachSpec &spec,
                                          const std::vector<uint32_t> &our_map_ids,
                                          const std::vector<uint32_t> &claimed, const std::string &component_pin) {
  const auto *x = spec.get_if<XdpAttach>();
  if (!x) return wrong_params("xdp dispatcher");
  const XdpAttach &a = *x;
  AttachRecord rec = interface_record(spec, ProgramType::Xdp, Mechanism::XdpDispatcher);
  auto ns = enter_interface_netns(spec, rec);
  if (!ns) return std::unexpected(ns.error());
  rec.xdp_flags = to_libxdp(a.mode);
  if (uint32_t id = find_unclaimed_component(rec.ifindex, our_map_ids, a, claimed)) {
    UniqueFd fd(bpf_prog_get_fd_by_id(id));
    if (fd.valid() && bpf_obj_pin(fd.get(), component_pin.c_str()) == 0) {
      rec.prog_id = id;
      return rec;
    }
  }
  DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = obj, .prog_name = bpf_program__name(prog));
  XdpProgram xp(xdp_program__create(&opts));
  if (long err = libxdp_get_error(xp.get())) {
    (void)xp.release();
    return fail("libxdp cannot use {}: {}", bpf_program__name(prog), libxdp_error(static_cast<int>(err)));
  }
  // Before libxdp loads it: the dispatcher's run order and chain-call actions for this slot.
  if (int err = xdp_program__set_run_prio(xp.get(), a.priority))
    return fail("set XDP run priority: {}", libxdp_error(err));
  const uint32_t mask = xdp_chain_call_mask(a.proceed_on);
  for (unsigned act = XDP_ABORTED; act <= XDP_REDIRECT; ++act)
    if (int err = xdp_program__set_chain_call_enabled(xp.get(), act, (mask >> act) & 1u))
      return fail("set XDP chain-call actions: {}", libxdp_error(err));
  int err = xdp_program__attach(xp.get(), rec.ifindex, static_cast<xdp_attach_mode>(rec.xdp_flags), 0);
  if (err) {
    bool legacy = false;
    uint32_t holder = 0;
    auto ids = xdp_hook_programs(rec.ifindex, &legacy, &holder);
    if (!ids.empty() && legacy)
      return fail("attach XDP to {}: the hook runs program id {} on its own, not in a libxdp dispatcher, and "
                  "only its owner can move it into one: {}",
                  rec.target, holder, libxdp_error(err));
    return fail("attach XDP to {} through libxdp's dispatcher: {}", rec.target, libxdp_error(err));
  }
  const int fd = xdp_program__fd(xp.get());
  rec.prog_id = prog_id_of(fd);
  if (bpf_obj_pin(fd, component_pin.c_str()) != 0) {
    const int pin_err = errno;
    (void)xdp_program__detach(xp.get(), rec.ifindex, static_cast<xdp_attach_mode>(rec.xdp_flags), 0);
    return fail_errno(pin_err, "pin XDP dispatcher component {}", component_pin);
  }
  return rec;
}

const std::vector<uint32_t> &XdpHookCache::programs(const std::string &netns, int ifindex) {
  const auto key = std::make_pair(netns, ifindex);
  if (auto it = hooks_.find(key); it != hooks_.end()) return it->second;
  auto &ids = hooks_[key];
  auto nit = attached_.find(netns);
  if (nit == attached_.end() && ++asked_[netns] <= kSingleLookups) {
    // One RTM_GETLINK for this interface: the kernel fills one link's attributes, where a dump
    // fills every link of the namespace (500 veths: a tenth of a no-op reconcile).
    // The namespace's socket is made in it once per observation: a netlink socket answers for
    // the namespace it was made in, so no setns() per hook.
    auto sit = socks_.find(netns);
    if (sit == socks_.end()) {
      UniqueFd fd;
      if (auto ns = NetnsGuard::enter(netns); ns)
        if (auto s = open_rtnl(); s) fd = std::move(*s);
      sit = socks_.emplace(netns, std::move(fd)).first;
    }
    XdpHook hook;  // stays empty when the namespace cannot be entered or read, as a dump's
    if (sit->second.valid())
      if (auto r = read_xdp_hook(sit->second.get(), ifindex); r) hook = *r;
    if (hook.prog_id && hook.attach_mode != XDP_ATTACHED_MULTI)
      ids = programs_behind(ifindex, hook.prog_id, nullptr, &netns);
    return ids;
  }
  if (nit == attached_.end()) {
    std::map<int, uint32_t> found;  // stays empty when the namespace cannot be read
    if (auto ns = NetnsGuard::enter(netns); ns)
      if (auto r = read_xdp_programs(); r) found = std::move(*r);
    nit = attached_.emplace(netns, std::move(found)).first;
  }
  if (auto pit = nit->second.find(ifindex); pit != nit->second.end())
    ids = programs_behind(ifindex, pit->second, nullptr, &netns);
  return ids;
}

bool xdp_in_place(uint32_t prog_id, const AttachRecord &r, XdpHookCache &hooks) {
  const auto &ids = hooks.programs(r.netns, r.ifindex);
  return std::find(ids.begin(), ids.end(), prog_id) != ids.end();
}

Result<AttachRecord> attach_tracepoint(int prog_fd, const AttachSpec &spec, const std::string &link_pin) {
  const auto *tp = spec.get_if<TracepointAttach>();
  if (!tp) return wrong_params("tracepoint");
  AttachRecord rec;
  rec.mechanism = Mechanism::PerfLink;
  rec.target = spec.target_label(ProgramType::Tracepoint);
  auto id = tracepoint_id(tp->tracepoint);
  if (!id) return std::unexpected(id.error());
  perf_event_attr attr{};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof attr;
  attr.config = *id;
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  UniqueFd pfd(static_cast<int>(perf_event_open(&attr, -1, 0)));
  if (!pfd.valid()) return fail_errno(errno, "perf_event_open tracepoint {}", tp->tracepoint);
  return link_perf_event(prog_fd, std::move(pfd), link_pin, std::move(rec));
}

Result<std::string> resolve_uprobe_target(const AttachSpec &spec) {
  const auto *u = spec.get_if<UprobeAttach>();
  if (!u) return wrong_params("uprobe");
  const UprobeAttach &a = *u;
  if (!is_library_name(a.target)) return a.target;
  auto slurp = [](const std::string &path) -> std::optional<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text;
  };
  // With a pid: what that process maps, then its own loader cache, both seen through its root.
  const std::string root = a.pid ? fmt::format("/proc/{}/root", *a.pid) : std::string();
  if (a.pid) {
    auto maps = slurp(fmt::format("/proc/{}/maps", *a.pid));
    if (!maps) return fail_errno(errno ? errno : ESRCH, "read /proc/{}/maps", *a.pid);
    if (auto p = resolve_in_maps(*maps, a.target)) return root + *p;
  }
  const std::string cache_path = root + "/etc/ld.so.cache";
  auto data = slurp(cache_path);
  if (!data) return fail_errno(errno ? errno : ENOENT, "read {}", cache_path);
  auto cache = parse_ld_so_cache(*data);
  if (!cache) return fail(cache.error().with_message(fmt::format("{}: {}", cache_path, cache.error().message)));
  if (auto p = resolve_in_ld_cache(*cache, a.target)) return root + *p;
  return fail(Error{ENOENT, fmt::format("no library named '{}' {}in {} (as `ldconfig -p` lists it)", a.target,
                                        a.pid ? fmt::format("is mapped by pid {} or ", *a.pid) : "", cache_path)});
}

Result<AttachRecord> attach_uprobe(int prog_fd, bool retprobe, const AttachSpec &spec, const std::string &path,
                                   const std::string &link_pin) {
  const auto *u = spec.get_if<UprobeAttach>();
  if (!u) return wrong_params("uprobe");
  const UprobeAttach &a = *u;
  AttachRecord rec;
  rec.mechanism = Mechanism::PerfLink;
  rec.target = spec.target_label(retprobe ? ProgramType::Uretprobe : ProgramType::Uprobe);
  if (path != a.target) rec.resolved = path;
  uint64_t offset = a.offset.value_or(0);
  // The kernel refuses anything but a regular file too (EINVAL), without saying why.
  if (struct stat st {}; ::stat(a.target.c_str(), &st) == 0 && !not_regular_reason(st).empty())
    return fail(Error{EINVAL, fmt::format("uprobe target {} is not a regular file ({})", a.target, not_regular_reason(st))});
  if (!a.function.empty()) {
    auto off = elf_symbol_offset(path, a.function);
    if (!off) return std::unexpected(off.error());
    offset += *off;
  }
  auto pmu = pmu_event_attr("uprobe", retprobe);
  if (!pmu) return fail_errno(pmu.error().code, "uprobe {}: {}", rec.target, pmu.error().message);
  perf_event_attr attr = *pmu;
  attr.config1 = reinterpret_cast<uint64_t>(path.c_str());
  attr.config2 = offset;
  const pid_t pid = a.pid ? *a.pid : -1;
  UniqueFd pfd(static_cast<int>(perf_event_open(&attr, pid, pid == -1 ? 0 : -1)));
  if (!pfd.valid()) return fail_errno(errno, "perf_event_open uprobe {}", rec.target);
  return link_perf_event(prog_fd, std::move(pfd), link_pin, std::move(rec));
}

Result<void> update_pinned_link(const std::string &link_pin, int new_fd) {
  UniqueFd fd(bpf_obj_get(link_pin.c_str()));
  if (!fd.valid()) return fail_errno(errno, "open link {}", link_pin);
  if (bpf_link_update(fd.get(), new_fd, nullptr) != 0) return fail_errno(errno, "update link {}", link_pin);
  return {};
}

Result<void> detach_pinned_link(const std::string &link_pin) {
  UniqueFd fd(bpf_obj_get(link_pin.c_str()));
  if (!fd.valid()) return errno == ENOENT ? Result<void>{} : fail_errno(errno, "open link {}", link_pin);
  // Detach first: someone else may hold the link open, and unpinning alone would leave it running.
  if (bpf_link_detach(fd.get()) != 0 && errno != EINVAL && errno != ENOLINK && errno != EOPNOTSUPP)
    return fail_errno(errno, "detach link {}", link_pin);
  if (::unlink(link_pin.c_str()) != 0 && errno != ENOENT) return fail_errno(errno, "unpin link {}", link_pin);
  return {};
}

uint32_t pinned_link_id(const std::string &link_pin, uint32_t *prog_id) {
  UniqueFd fd(bpf_obj_get(link_pin.c_str()));
  if (!fd.valid()) return 0;
  // bpf_link_info of Linux 6.6+: the TCX member {ifindex, attach_type} sits at offset 16; a TCX
  // link whose device is gone reports ifindex 0.
  alignas(8) unsigned char buf[256] = {};
  uint32_t len = sizeof buf;
  if (bpf_obj_get_info_by_fd(fd.get(), buf, &len) != 0) return 0;
  uint32_t type, id, prog, ifindex;
  std::memcpy(&type, buf, 4);
  std::memcpy(&id, buf + 4, 4);
  std::memcpy(&prog, buf + 8, 4);
  std::memcpy(&ifindex, buf + 16, 4);
  if (prog_id) *prog_id = prog;
  if (type == kBpfLinkTypeTcx && ifindex == 0) return 0;
  return id;
}

Result<uint64_t> elf_symbol_offset(const std::string &path, const std::string &symbol) {
  if (elf_version(EV_CURRENT) == EV_NONE) return fail("libelf: {}", elf_errmsg(-1));
  // O_NONBLOCK: a FIFO would block open() until a writer comes; checked on the fd, not the path.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return fail_errno(errno, "open {}", path);
  struct stat fst {};
  if (::fstat(fd.get(), &fst) != 0) return fail_errno(errno, "stat {}", path);
  if (auto why = not_regular_reason(fst); !why.empty()) return fail("{} is not a regular file ({})", path, why);
  // Elf handles point into the file; elf_end() frees them.
  std::unique_ptr<Elf, decltype(&elf_end)> elf(elf_begin(fd.get(), ELF_C_READ, nullptr), &elf_end);
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) return fail("{} is not an ELF file", path);
  for (Elf64_Word want : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (Elf_Scn *scn = elf_nextscn(elf.get(), nullptr); scn; scn = elf_nextscn(elf.get(), scn)) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || sh.sh_type != want || sh.sh_entsize == 0) continue;
      Elf_Data *data = elf_getdata(scn, nullptr);
      for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; ++i) {
        GElf_Sym sym;
        if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
        const int st = GELF_ST_TYPE(sym.st_info);
        if ((st != STT_FUNC && st != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
        const char *name = elf_strptr(elf.get(), sh.sh_link, sym.st_name);
        if (!name || symbol != name) continue;
        // The uprobe PMU wants a file offset: st_value is a virtual address in the section that
        // holds the symbol, so translate through that section's address and file offset.
        Elf_Scn *sec = elf_getscn(elf.get(), sym.st_shndx);
        GElf_Shdr ssh;
        if (!sec || !gelf_getshdr(sec, &ssh)) return fail("{}: section of {} not found", path, symbol);
        return sym.st_value - ssh.sh_addr + ssh.sh_offset;
      }
    }
  }
  return fail_errno(ENOENT, "function {} in {}", symbol, path);
}

}  // namespace bpfrec
