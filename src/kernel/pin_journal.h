// Which entries of the pin root changed since an observation last read them, from inotify(7).
// bpffs goes through the VFS's fsnotify hooks like any file system (kernel/bpf/inode.c has no
// notifications of its own): a pin is IN_CREATE, an unlink IN_DELETE, a rename IN_MOVED_FROM /
// IN_MOVED_TO, a chmod or utimensat IN_ATTRIB (checked on 6.1 and 6.18).
//
// What bpffs cannot report, and the observer therefore checks every time: a map's contents
// (write_record() touches the record pin after an update, so that one is an IN_ATTRIB), a link
// detached with BPF_LINK_DETACH (`bpftool link detach`), and an XDP or TC hook changed through
// netlink.
#pragma once

#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/unique_fd.h"

namespace bpfrec {

/// A change journal of one pin root: the root itself and, for every entry that was read, its
/// directory and its maps/ and links/ subdirectories. An entry is clean when it has been watched
/// since its last begin_read() and no event named it. Everything is dirty after IN_Q_OVERFLOW,
/// after the root was removed or renamed, and always when inotify is not available (no
/// instance or watch left: the observer then reads everything, as it would without a journal).
/// One per observer; not thread-safe.
class PinJournal {
 public:
  /// Watches `root` (the pin root directory). Failure leaves the journal unavailable.
  explicit PinJournal(std::string root);

  /// Reads every queued event (non-blocking). Call at the start of an observation, before
  /// clean() and begin_read().
  void drain();

  /// Whether the pin root's own listing may have changed (an entry made, removed or renamed)
  /// since the last call; true when the journal cannot tell. Resets the flag.
  bool take_root_changed();

  /// Whether `entry` (a name in the pin root) is unchanged since its last begin_read().
  bool clean(const std::string &entry) const;

  /// Before `entry` is read: watches its directories (again: a renamed directory keeps its
  /// watch under its new name) and marks it clean; a change from now on marks it dirty. Returns
  /// false when its directory cannot be watched (it then stays dirty).
  bool begin_read(const std::string &entry);

  /// Forgets the entries that are not in `present` (gone from the pin root).
  void retain(const std::set<std::string> &present);

  /// Whether events are read at all; false: every entry is always dirty.
  bool available() const { return root_wd_ >= 0; }

  /// Events read since the journal was made, and how many of them were IN_Q_OVERFLOW.
  uint64_t events() const { return events_; }
  uint64_t overflows() const { return overflows_; }

  /// The first reason something could not be watched ("" while everything is): such entries
  /// are read at every observation. For the observer's debug log.
  const std::string &problem() const { return problem_; }

 private:
  struct Entry {
    std::vector<int> wds;
    bool dirty = true;
  };
  void watch_root();
  void all_dirty();
  std::string root_;
  UniqueFd fd_;
  int root_wd_ = -1;
  bool root_changed_ = true;
  std::string problem_;
  uint64_t events_ = 0, overflows_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<int, std::string> owner_;  // watch descriptor -> entry
};

}  // namespace bpfrec
