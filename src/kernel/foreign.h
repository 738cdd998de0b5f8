// Every BPF program on the node that is not ours (bpfman's `list --all`; the bpfd-on-OCP story
// "as an admin I want to know ALL of the BPF programs deployed"): what the kernel tells about
// each one, and who owns it where that can be told. Read-only: one BPF_PROG_GET_NEXT_ID walk,
// one BPF_LINK_GET_NEXT_ID walk, one walk of the bpffs pins and one RTM_GETLINK dump of the
// daemon's netns; nothing is loaded, attached or changed.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel/pin_cache.h"

namespace bpfrec {

/// A link a foreign program sits on, and its hook as the kernel describes it.
struct ForeignLink {
  uint32_t id = 0;
  std::string type;  // libbpf's link type name ("xdp", "perf_event", "tcx", ...)
  std::string hook;  // e.g. "tcx ingress ifindex 5", "cgroup 1234 cgroup_inet_ingress"
};

struct ForeignProgram {
  uint32_t id = 0;
  std::string type;  // libbpf's program type name ("xdp", "sched_cls", ...)
  std::string name;  // the kernel's name (at most 15 characters)
  std::string tag;   // 16 hex digits
  uint64_t loaded_at = 0;  // load time, seconds since the epoch
  uint32_t uid = 0;        // created_by_uid
  std::vector<uint32_t> map_ids;
  std::vector<ForeignLink> links;
  std::vector<std::string> hooks;  // hooks without a link: XDP through netlink in the daemon's netns
  std::vector<std::string> pins;   // where it is pinned in bpffs (at most 4 listed)
  /// Who owns it, where that can be told: "libxdp" (a dispatcher, or pinned under
  /// /sys/fs/bpf/xdp), "systemd" (its cgroup programs are named sd_*), "pinned at <dir>"
  /// (another pin root); empty when nothing tells.
  std::string owner;
};

struct ForeignInventory {
  std::vector<ForeignProgram> programs;  // by id
  uint32_t programs_seen = 0;  // every program the kernel holds, ours included
  uint32_t links_seen = 0;
  uint32_t pins_seen = 0;
  double scan_ms = 0;
  bool truncated = false;  // more than kMaxForeign foreign programs: the rest are not listed
};

/// At most this many foreign programs are listed (the Describe() reply stays well under the
/// bus's message limit: ~300 bytes each).
inline constexpr size_t kMaxForeign = 4096;

/// What a walk of bpffs learned about each pin, kept from one scan to the next: a bpffs inode
/// holds one kernel object for its life (pin_cache.h), so a pin whose (device, inode, ctime) is
/// unchanged is the same program or link and need not be opened again. A link's program can
/// change (BPF_LINK_UPDATE), so links are cached by link id and their programs read at each scan.
/// Not thread-safe; each scan replaces the entries with what it found.
struct ForeignScanCache {
  enum class Kind : uint8_t { Prog, Link, Other };
  struct Pin {
    PinIdentity identity;  ///< as stat(2) saw the pin when it was opened
    Kind kind = Kind::Other;
    uint32_t id = 0;  ///< program id (Prog) or link id (Link)
  };
  std::unordered_map<std::string, Pin> pins;  ///< by path, as the last scan found them
  uint32_t opened = 0;  ///< pins the last scan opened (bpf_obj_get)
};

/// Lists the programs the kernel holds that are not ours. Ours: every program reachable from a
/// pin under `pin_root` (programs, links, dispatchers and components). `bpffs` is the bpffs
/// tree walked for pins (normally /sys/fs/bpf); `pin_root` is walked too when it lies outside.
/// Never fails: what cannot be read is left out.
/// With `cache`, pins whose identity did not change since the last scan are not opened again
/// (at 500 programs of ours: ~1,500 BPF_OBJ_GET and as many GET_INFO calls fewer per scan).
ForeignInventory list_foreign(const std::string &pin_root, const std::string &bpffs = "/sys/fs/bpf",
                              ForeignScanCache *cache = nullptr);

/// The `foreign` section of Describe(): {"programs": [...], "programs_seen", "links_seen",
/// "pins_seen", "scan_ms", "truncated"}.
nlohmann::json foreign_to_json(const ForeignInventory &inv);

}  // namespace bpfrec
