#include "kernel/foreign.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>

#include "kernel/inventory.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

constexpr size_t kMaxPins = 50000;  // bound on the bpffs walk
constexpr int kMaxDepth = 12;
constexpr uint32_t kLinkTypeTcx = 11;  // Linux 6.6; not in libbpf 1.1.2's UAPI copy

using PinKind = ForeignScanCache::Kind;

PinKind kind_of_fd(int fd) {
  char target[64] = {};
  const std::string link = fmt::format("/proc/self/fd/{}", fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0) return PinKind::Other;
  const std::string_view t(target, static_cast<size_t>(n));
  if (t == "anon_inode:bpf-prog") return PinKind::Prog;
  if (t == "anon_inode:bpf_link") return PinKind::Link;
  return PinKind::Other;
}

// Every pin under `dir` (path -> what it holds) into `out`; from `cache` where the pin's
// identity is the cached one (fstatat on the directory's fd: no walk of the whole path).
void walk_pins(const std::string &dir, int depth, std::map<std::string, ForeignScanCache::Pin> &out,
               uint32_t &seen, const ForeignScanCache *cache, uint32_t &opened) {
  if (depth > kMaxDepth || seen >= kMaxPins) return;
  DIR *d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent *e = ::readdir(d)) {
    if (seen >= kMaxPins) break;
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    if (e->d_type == DT_DIR) {
      walk_pins(path, depth + 1, out, seen, cache, opened);
      continue;
    }
    ++seen;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, 0) != 0) continue;  // gone meanwhile
    ForeignScanCache::Pin pin;
    pin.identity = identity_of(st);
    if (cache) {
      const auto it = cache->pins.find(path);
      if (it != cache->pins.end() && it->second.identity == pin.identity) {
        out.emplace(std::move(path), it->second);
        continue;
      }
    }
    ++opened;
    UniqueFd fd(bpf_obj_get(path.c_str()));
    if (!fd.valid()) continue;
    pin.kind = kind_of_fd(fd.get());
    if (pin.kind == PinKind::Prog) {
      bpf_prog_info info{};
      uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
      pin.id = info.id;
    } else if (pin.kind == PinKind::Link) {
      bpf_link_info info{};
      uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
      pin.id = info.id;
    }
    out.emplace(std::move(path), pin);
  }
  ::closedir(d);
}

std::string attach_type_name(uint32_t t) {
  const char *s = libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(t));
  if (s) return s;
  if (t == 46) return "tcx_ingress";
  if (t == 47) return "tcx_egress";
  return fmt::format("attach type {}", t);
}

// A link's type name and hook, from bpf_link_info (union at offset 16).
ForeignLink describe_link(int fd, uint32_t *prog_id) {
  alignas(8) unsigned char buf[256] = {};
  char tp[128] = {};
  uint32_t type = 0;
  ForeignLink l;
  uint32_t len = sizeof buf;
  if (bpf_obj_get_info_by_fd(fd, buf, &len) != 0) return l;
  std::memcpy(&type, buf, 4);
  std::memcpy(&l.id, buf + 4, 4);
  std::memcpy(prog_id, buf + 8, 4);
  auto u32 = [&](size_t off) {
    uint32_t v;
    std::memcpy(&v, buf + off, 4);
    return v;
  };
  const char *tn = libbpf_bpf_link_type_str(static_cast<bpf_link_type>(type));
  l.type = tn ? tn : type == kLinkTypeTcx ? "tcx" : fmt::format("link type {}", type);
  switch (type) {
    case BPF_LINK_TYPE_RAW_TRACEPOINT: {
      // The name needs a second call with a buffer.
      alignas(8) unsigned char again[256] = {};
      const uint64_t ptr = reinterpret_cast<uintptr_t>(tp);
      const uint32_t tplen = sizeof tp;
      std::memcpy(again + 16, &ptr, 8);
      std::memcpy(again + 24, &tplen, 4);
      len = sizeof again;
      if (bpf_obj_get_info_by_fd(fd, again, &len) == 0) l.hook = fmt::format("raw_tracepoint {}", tp);
      break;
    }
    case BPF_LINK_TYPE_TRACING:
      l.hook = fmt::format("{} btf object {} type {}", attach_type_name(u32(16)), u32(20), u32(24));
      break;
    case BPF_LINK_TYPE_CGROUP: {
      uint64_t cg;
      std::memcpy(&cg, buf + 16, 8);
      l.hook = fmt::format("cgroup id {} {}", cg, attach_type_name(u32(24)));
      break;
    }
    case BPF_LINK_TYPE_NETNS: l.hook = fmt::format("netns inode {} {}", u32(16), attach_type_name(u32(20))); break;
    case BPF_LINK_TYPE_XDP: l.hook = fmt::format("xdp ifindex {}", u32(16)); break;
    case kLinkTypeTcx:
      l.hook = fmt::format("tcx {} ifindex {}", u32(20) == 47 ? "egress" : "ingress", u32(16));
      break;
    case BPF_LINK_TYPE_PERF_EVENT: l.hook = "perf_event (tracepoint, kprobe or uprobe)"; break;
    default: l.hook = l.type; break;
  }
  return l;
}

bool under(const std::string &path, const std::string &dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

std::string hex_tag(const unsigned char tag[8]) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += fmt::format("{:02x}", tag[i]);
  return s;
}

}  // namespace

ForeignInventory list_foreign(const std::string &pin_root, const std::string &bpffs, ForeignScanCache *cache) {
  const auto t0 = std::chrono::steady_clock::now();
  ForeignInventory inv;
  std::map<std::string, ForeignScanCache::Pin> pinned;  // path -> what it holds
  uint32_t opened = 0;
  walk_pins(bpffs, 0, pinned, inv.pins_seen, cache, opened);
  if (!under(pin_root, bpffs) && pin_root != bpffs)
    walk_pins(pin_root, 0, pinned, inv.pins_seen, cache, opened);
  if (cache) {
    cache->opened = opened;
    cache->pins.clear();
    for (const auto &[path, pin] : pinned) cache->pins.emplace(path, pin);
  }

  // Links, by program (one walk), and each link's program (it can change: read every scan).
  std::map<uint32_t, std::vector<ForeignLink>> links;
  std::map<uint32_t, uint32_t> link_prog;
  for (uint32_t id = 0; bpf_link_get_next_id(id, &id) == 0;) {
    ++inv.links_seen;
    UniqueFd fd(bpf_link_get_fd_by_id(id));
    if (!fd.valid()) continue;
    uint32_t prog = 0;
    ForeignLink l = describe_link(fd.get(), &prog);
    if (prog) {
      link_prog[l.id] = prog;
      links[prog].push_back(std::move(l));
    }
  }
  // Program id -> pin paths (a link pin counts for the program it runs); ours: a pin under pin_root.
  std::map<uint32_t, std::vector<std::string>> pins;
  std::set<uint32_t> ours;
  for (const auto &[path, pin] : pinned) {
    uint32_t prog = 0;
    if (pin.kind == PinKind::Prog) prog = pin.id;
    else if (pin.kind == PinKind::Link)
      if (auto it = link_prog.find(pin.id); it != link_prog.end()) prog = it->second;
    if (!prog) continue;
    pins[prog].push_back(path);
    if (under(path, pin_root)) ours.insert(prog);
  }
  // XDP attached through netlink (no link) in the daemon's netns: one dump.
  std::map<uint32_t, std::vector<std::string>> netlink_hooks;
  if (auto xdp = read_xdp_programs(); xdp)
    for (const auto &[ifindex, prog] : *xdp) {
      char name[IF_NAMESIZE] = {};
      netlink_hooks[prog].push_back(
          fmt::format("xdp {} (ifindex {}, netlink)", if_indextoname(static_cast<unsigned>(ifindex), name) ? name : "?",
                      ifindex));
    }

  // Boot-time nanoseconds (bpf_prog_info.load_time) to wall-clock seconds.
  timespec real{}, boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  const int64_t boot_epoch_ns = (real.tv_sec - boot.tv_sec) * 1'000'000'000LL + (real.tv_nsec - boot.tv_nsec);

  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    ++inv.programs_seen;
    if (ours.contains(id)) continue;
    if (inv.programs.size() >= kMaxForeign) {
      inv.truncated = true;
      continue;
    }
    UniqueFd fd(bpf_prog_get_fd_by_id(id));
    if (!fd.valid()) continue;  // unloaded meanwhile
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
    ForeignProgram p;
    p.id = id;
    const char *tn = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(info.type));
    p.type = tn ? tn : fmt::format("type {}", info.type);
    p.name = info.name;
    p.tag = hex_tag(info.tag);
    p.loaded_at = static_cast<uint64_t>((boot_epoch_ns + static_cast<int64_t>(info.load_time)) / 1'000'000'000LL);
    p.uid = info.created_by_uid;
    if (const uint32_t n = info.nr_map_ids) {
      p.map_ids.resize(n);
      bpf_prog_info again{};
      again.nr_map_ids = n;
      again.map_ids = reinterpret_cast<uintptr_t>(p.map_ids.data());
      len = sizeof again;
      if (bpf_obj_get_info_by_fd(fd.get(), &again, &len) != 0) p.map_ids.clear();
      else p.map_ids.resize(std::min(n, again.nr_map_ids));
    }
    if (auto it = links.find(id); it != links.end()) p.links = it->second;
    if (auto it = netlink_hooks.find(id); it != netlink_hooks.end()) p.hooks = it->second;
    if (auto it = pins.find(id); it != pins.end())
      for (size_t i = 0; i < it->second.size() && i < 4; ++i) p.pins.push_back(it->second[i]);
    // Who owns it, where that can be told.
    if (p.name == "xdp_dispatcher") p.owner = "libxdp";
    for (const auto &pin : p.pins)
      if (p.owner.empty()) {
        if (under(pin, bpffs + "/xdp")) p.owner = "libxdp";
        else p.owner = "pinned at " + pin.substr(0, pin.rfind('/'));
      }
    if (p.owner.empty() && p.name.starts_with("sd_") && p.type.starts_with("cgroup")) p.owner = "systemd";
    inv.programs.push_back(std::move(p));
  }
  inv.scan_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return inv;
}

nlohmann::json foreign_to_json(const ForeignInventory &inv) {
  nlohmann::json progs = nlohmann::json::array();
  for (const auto &p : inv.programs) {
    nlohmann::json links = nlohmann::json::array();
    for (const auto &l : p.links) links.push_back({{"id", l.id}, {"type", l.type}, {"hook", l.hook}});
    progs.push_back({{"id", p.id}, {"type", p.type}, {"name", p.name}, {"tag", p.tag}, {"loaded_at", p.loaded_at},
                     {"uid", p.uid}, {"map_ids", p.map_ids}, {"links", links}, {"hooks", p.hooks},
                     {"pins", p.pins}, {"owner", p.owner}});
  }
  return {{"programs", progs},         {"programs_seen", inv.programs_seen}, {"links_seen", inv.links_seen},
          {"pins_seen", inv.pins_seen}, {"scan_ms", inv.scan_ms},             {"truncated", inv.truncated}};
}

}  // namespace bpfrec
