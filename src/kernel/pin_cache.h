// What an observation reads from bpffs, kept from one observation to the next while the pins
// are provably the same objects. A bpffs inode holds one kernel object for its whole life (a pin
// is never re-pointed: pinning makes a new inode, unlinking or renaming over it drops it), so
// the same (device, inode, ctime) at a path means the same program or link, and what never
// changes about it (its id, a perf link's program) need not be asked from the kernel again.
// Source: kernel/bpf/inode.c (bpf_obj_pin_user -> bpf_mkobj_ops, one inode per pin).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/result.h"

namespace bpfrec {

/// The identity of a file at a path: device, inode, ctime (ns). A rename over the path or a new
/// pin there changes it; a rename of the file itself changes its ctime.
struct PinIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t ctime_ns = 0;
  int64_t mtime_ns = 0;  ///< for directories: changes when an entry is added or removed
  bool operator==(const PinIdentity &) const = default;
};

/// The identity in a stat(2) result (for callers that stat relative to a directory fd).
PinIdentity identity_of(const struct stat &st);
/// stat(2) of `path`; nullopt when it cannot be read (ENOENT and the rest).
std::optional<PinIdentity> pin_identity(const std::string &path);

/// Per-path answers that hold as long as the path's PinIdentity does. One instance per
/// observer (not thread-safe). Entries not used between two sweep() calls are dropped, so the
/// cache never outgrows what one observation reads.
class PinCache {
 public:
  /// Kernel id of the program pinned at `path` (bpf_obj_get + BPF_OBJ_GET_INFO_BY_FD, once per
  /// pin identity); 0 when there is no pin or it is not a program. `trusted`: the caller knows
  /// the path is unchanged since it was last asked (pin_journal.h), so a cached answer is given
  /// without a stat(2).
  uint32_t prog_id(const std::string &path, bool trusted = false);

  /// For links whose program and existence cannot change while pinned (perf links: the kernel
  /// has neither BPF_LINK_DETACH nor BPF_LINK_UPDATE for them, kernel/bpf/syscall.c
  /// bpf_perf_link_lops): `read(path, &prog_id)` -> link id, asked once per pin identity.
  /// 0 when there is no pin or `read` found no live link (not cached then).
  /// `trusted` as for prog_id().
  uint32_t perf_link_id(const std::string &path, uint32_t *prog_id,
                        const std::function<uint32_t(const std::string &, uint32_t *)> &read, bool trusted = false);

  /// Entry names of directory `path` (read_dir: a directory that does not exist is empty),
  /// read again only when the directory's identity (mtime included: bpffs updates it on every
  /// pin and unlink in it) changed, or when its last change is too recent for mtime to prove
  /// anything (within 100 ms). Errors: the listing failed (EACCES, EIO, ...); never cached.
  Result<std::vector<std::string>> list(const std::string &path);

  /// Ends an observation: forgets the paths that were not asked for since the last sweep.
  void sweep();

 private:
  struct Entry {
    PinIdentity id;
    uint32_t a = 0, b = 0;
    std::vector<std::string> names;
    bool used = false;
  };
  /// The cached entry of `path` when its identity (stat'ed into `id`) is the cached one, marked
  /// used; nullptr otherwise (the entry is dropped when the path is gone: `id` is then nullopt).
  /// `trusted`: a cached entry is taken without a stat(2) (`id` is then its identity).
  const Entry *lookup(const std::string &path, std::optional<PinIdentity> &id, bool trusted = false);
  /// Caches `e` under `id` when the path still has that identity after the read (a pin replaced
  /// meanwhile is not cached under the old one's identity) and `keep`; else forgets the path.
  void store(const std::string &path, const PinIdentity &id, Entry e, bool keep);
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace bpfrec
