#include "kernel/pin_journal.h"

#include <sys/inotify.h>

#include <cerrno>
#include <cstring>

namespace bpfrec {

namespace {
// Everything that changes what an observation reads. IN_DELETE_SELF / IN_MOVE_SELF: the watched
// directory itself went away or was renamed (a replace exchanges a program's directory with its
// staging one: both names also get an event in the root).
constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ONLYDIR;
}  // namespace

PinJournal::PinJournal(std::string root) : root_(std::move(root)) {
  fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd_.valid()) {
    problem_ = std::string("no inotify instance: ") + std::strerror(errno);
    return;
  }
  watch_root();
}

void PinJournal::watch_root() {
  root_wd_ = ::inotify_add_watch(fd_.get(), root_.c_str(), kMask);
  if (root_wd_ < 0 && problem_.empty()) problem_ = "cannot watch " + root_ + ": " + std::strerror(errno);
}

void PinJournal::all_dirty() {
  for (auto &[name, e] : entries_) e.dirty = true;
  root_changed_ = true;
}

bool PinJournal::take_root_changed() {
  const bool changed = root_changed_ || root_wd_ < 0;
  root_changed_ = false;
  return changed;
}

void PinJournal::drain() {
  if (!fd_.valid()) return;
  if (root_wd_ < 0) {
    watch_root();  // the pin root may exist (again) now
    all_dirty();
    return;
  }
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: nothing queued
    for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      const auto *ev = reinterpret_cast<const inotify_event *>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      ++events_;
      if (ev->mask & IN_Q_OVERFLOW) {
        ++overflows_;
        all_dirty();
        continue;
      }
      if (ev->wd == root_wd_) {
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          // The pin root itself was removed or renamed: nothing known holds, and the watch
          // follows the old directory. The path is watched again below.
          if (!(ev->mask & IN_IGNORED)) (void)::inotify_rm_watch(fd_.get(), root_wd_);
          root_wd_ = -1;
          all_dirty();
          continue;
        }
        // An entry made, removed or renamed, or the root's own mode changed (it may not be
        // listable any more).
        if ((ev->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)) || ev->len == 0) root_changed_ = true;
        if (ev->len > 0)
          if (auto it = entries_.find(ev->name); it != entries_.end()) it->second.dirty = true;
        continue;
      }
      const auto owner = owner_.find(ev->wd);
      if (owner == owner_.end()) continue;
      if (auto it = entries_.find(owner->second); it != entries_.end()) it->second.dirty = true;
      if (ev->mask & IN_IGNORED) owner_.erase(owner);
    }
  }
  if (root_wd_ < 0) {
    watch_root();
    all_dirty();
  }
}

bool PinJournal::clean(const std::string &entry) const {
  if (root_wd_ < 0) return false;
  const auto it = entries_.find(entry);
  return it != entries_.end() && !it->second.dirty;
}

bool PinJournal::begin_read(const std::string &entry) {
  if (root_wd_ < 0) return false;
  Entry e;
  e.dirty = false;
  const std::string dir = root_ + "/" + entry;
  for (const char *sub : {"", "/maps", "/links"}) {
    const int wd = ::inotify_add_watch(fd_.get(), (dir + sub).c_str(), kMask);
    if (wd < 0) {
      // A subdirectory made later is an IN_CREATE in the directory; the directory itself must be watched.
      if (*sub && errno == ENOENT) continue;
      if (problem_.empty()) problem_ = "cannot watch " + dir + sub + ": " + std::strerror(errno);
      e.dirty = true;
      continue;
    }
    owner_[wd] = entry;
    e.wds.push_back(wd);
  }
  const bool ok = !e.dirty;
  entries_.insert_or_assign(entry, std::move(e));
  return ok;
}

void PinJournal::retain(const std::set<std::string> &present) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    for (int wd : it->second.wds) {
      auto o = owner_.find(wd);
      if (o != owner_.end() && o->second == it->first) {
        (void)::inotify_rm_watch(fd_.get(), wd);
        owner_.erase(o);
      }
    }
    it = entries_.erase(it);
  }
}

}  // namespace bpfrec
