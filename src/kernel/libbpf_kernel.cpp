// LibbpfKernel: the Kernel port on the real kernel. It observes (pins, records, the checks of
// every attachment), loads (kernel/load.h), and routes attaching to the attachers
// (kernel/attachers/): it chooses the mechanism of a new attachment (XDP alone or in libxdp's
// dispatcher, by probing; TC by choose_tc(); the rest by the type's attacher family) and sends
// every later step of an attachment to the attacher of the mechanism its record names.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include <spdlog/spdlog.h>

#include "kernel/attach.h"
#include "kernel/attachers/attacher.h"
#include "kernel/attachers/hook_index.h"
#include "kernel/features.h"
#include "kernel/fs.h"
#include "kernel/kernel.h"
#include "kernel/load.h"
#include "kernel/pin_cache.h"
#include "kernel/pin_journal.h"
#include "kernel/record.h"
#include "kernel/tc_shared.h"
#include "reconcile/identity.h"
#include "reconcile/proceed_on.h"
#include "reconcile/shared_maps.h"
#include "types/type.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

class LibbpfKernel final : public Kernel {
  // Per pin-root entry: what its pins and record held when last read, and what the checks of
  // its attachments found at the last observation.
  struct Seen {
    ObservedProgram raw;
    std::vector<Check> checks;  // in the order of raw.attachments
  };

 public:
  LibbpfKernel(std::string pin_root, TcMechanism tc, XdpMechanism xdp, ObjectStore *objects)
      : pins_{std::move(pin_root)}, tc_(tc), xdp_(xdp) {
    bytecode_.set_disk(objects);
  }

  Result<ObservedState> observe() override {
    auto st = observe_shared();
    if (!st) return std::unexpected(st.error());
    return **st;
  }

  // Two passes: every entry's pins (read again only where the journal saw a change) and the
  // checks of its attachments; then, only when something differs from the last observation, a
  // new ObservedState from them. Unchanged, the last one is returned as it is.
  Result<std::shared_ptr<const ObservedState>> observe_shared() override {
    XdpHookCache xdp_hooks;  // one look at every XDP hook for this observation
    journal_.drain();
    if (!journal_.problem().empty() && !journal_logged_) {
      journal_logged_ = true;
      spdlog::debug("pin root {}: {}: such entries are read at every observation", pins_.root, journal_.problem());
    }
    // The listing is read again when the journal saw an entry made, removed or renamed (or
    // cannot tell), and whenever the last observation failed.
    if (journal_.take_root_changed() || !last_) {
      auto entries = read_dir(pins_.root);
      if (!entries) {
        ++version_;  // whatever comes next is a new observation
        last_.reset();  // read the listing again next time
        listing_.clear();
        index_built_ = false;  // nothing is known: index() reads every record if asked
        return std::unexpected(entries.error());
      }
      listing_ = std::move(*entries);
    }
    const std::vector<std::string> *entries = &listing_;
    bool changed = !last_;
    struct Mine {
      bool staging;
      std::string name;  // the program's name, from the entry
      Seen *seen;
    };
    std::vector<Mine> mine;  // in listing order
    std::set<std::string> present;
    for (const auto &entry : *entries) {
      const bool staging = entry.starts_with(PinLayout::kStagingPrefix);
      const std::string name = staging ? entry.substr(std::strlen(PinLayout::kStagingPrefix)) : entry;
      if (!valid_program_name(name)) continue;  // not one of ours
      present.insert(entry);
      Seen &seen = check_program(entry, name, pins_.root + "/" + entry, xdp_hooks, changed);
      mine.push_back(Mine{staging, name, &seen});
    }
    changed |= present.size() != seen_.size();
    // The hook index, from the records just read (every one, live and staging, as all_records()
    // would give them: the raw records, lost attachments included). Unchanged since the last
    // observation, it is still right: every write since would have shown in the journal.
    if (changed || !index_built_) {
      index_.clear();
      for (const auto &m : mine) index_.put(m.seen->raw);
      index_built_ = true;
    }
    std::erase_if(seen_, [&](const auto &kv) { return !present.contains(kv.first); });
    journal_.retain(present);
    records_.sweep();
    pins_seen_.sweep();
    if (!changed) return last_;
    auto st = std::make_shared<ObservedState>();
    for (auto &[staging, name, seen] : mine) {
      ObservedProgram p = seen->raw;
      size_t i = 0;
      for (auto it = p.attachments.begin(); it != p.attachments.end(); ++i) {
        const Check &c = seen->checks[i];
        if (c.ok) {
          // What runs there now, as the check found it: the link, or (XDP dispatcher) the component.
          show_live(c, it->second);
          ++it;
        } else {
          p.lost.insert(p.attachments.extract(it++));
        }
      }
      if (staging) st->stale.push_back(std::move(p));
      else st->programs.emplace(name, std::move(p));
    }
    // Bytes are kept for the programs still pinned (their dispatcher components load them again).
    std::set<std::string> digests;
    for (const auto &[n, p] : st->programs) digests.insert(p.bytecode_sha256);
    for (const auto &p : st->stale) digests.insert(p.bytecode_sha256);
    bytecode_.retain(digests);
    st->version = ++version_;
    last_ = st;
    return st;
  }

  Result<ObservedProgram> load(const ProgramSpec &spec, bool staged) override {
    const std::string dir = staged ? pins_.staging_dir(spec.name) : pins_.dir(spec.name);
    auto r = load_program(spec, dir, LoadContext{pins_, records_, bytecode_, ctx_.write});
    if (!r) {
      (void)remove_tree(dir);  // no half-pinned program left behind
      index().erase(dir);
    }
    return r;
  }

  Result<AttachRecord> attach(ObservedProgram &prog, const ProgramSpec &spec, const AttachSpec &a) override {
    const std::string key = attach_key(spec.type, a);
    auto fd = open_prog(prog);
    if (!fd) return std::unexpected(fd.error());
    const std::string link_pin = PinLayout::link(prog.dir, key);
    (void)::unlink(link_pin.c_str());  // a stale pin from an interrupted attach or a dead link
    AttachRequest req{prog, spec, a, key, fd->get(), link_pin, {}};
    auto m = choose_mechanism(spec, a, req.why);
    if (!m) return std::unexpected(m.error());
    auto r = attachers_.attacher_for(*m).attach(ctx_, req);
    if (!r) return r;
    r->key = key;
    r->spec = a;
    prog.attachments[key] = *r;
    if (auto w = write(prog); !w) {
      // Without a record the attachment could not be found again: undo it now.
      (void)detach(prog, key);
      return std::unexpected(w.error());
    }
    return r;
  }

  Result<void> check_attach(const ProgramSpec &spec, const AttachSpec &a) override {
    if (descriptor(spec.type).attacher != AttacherKind::Tc) return {};
    auto m = choose_tc();
    if (!m) return std::unexpected(m.error());
    return check_tc_proceed_on(*m, spec.manifest, a);
  }

  Result<void> swap(ObservedProgram &from, ObservedProgram &to, const ProgramSpec &spec, const AttachSpec &a) override {
    const std::string key = attach_key(spec.type, a);
    auto it = from.attachments.find(key);
    if (it == from.attachments.end()) return fail("swap: {} is not attached at {}", from.name, key);
    const AttachRecord rec = it->second;
    Attacher &attacher = attachers_.attacher_for(rec.mechanism);
    auto old_fd = open_prog(from);
    if (!old_fd) return std::unexpected(old_fd.error());
    auto new_fd = open_prog(to);
    if (!new_fd) return std::unexpected(new_fd.error());
    if (!attacher.swaps_in_place(spec.type)) {
      // Side by side (the attacher's doc comment says why): run both for a moment rather than neither.
      auto n = attach(to, spec, a);
      if (!n) return std::unexpected(n.error());
      if (auto d = detach(from, key); !d) {
        (void)detach(to, key);
        return d;
      }
      return {};
    }
    // Record the intent first: if we die between the kernel swap and the records, the staging
    // record already names the hook, so discarding it detaches the new program instead of
    // leaving it there unowned.
    to.attachments[key] = rec;
    if (auto w = write(to); !w) {
      to.attachments.erase(key);
      return w;
    }
    auto s = attacher.swap(ctx_, SwapRequest{from, to, spec, a, key, rec, old_fd->get(), new_fd->get()});
    if (!s) {
      to.attachments.erase(key);
      (void)write(to);
      return std::unexpected(s.error());
    }
    if (*s)  // the attacher changed to's record of the hook (a new link id)
      if (auto w = write(to); !w) return w;
    from.attachments.erase(key);
    return write(from);
  }

  Result<void> detach(ObservedProgram &prog, const std::string &key) override {
    auto it = prog.attachments.find(key);
    if (it == prog.attachments.end()) return {};
    if (auto r = attachers_.attacher_for(it->second.mechanism).detach(ctx_, prog, it->second); !r) return r;
    prog.attachments.erase(it);
    return write(prog);
  }

  Result<void> unload(const ObservedProgram &prog) override {
    auto r = remove_tree(prog.dir);
    index().erase(prog.dir);  // also after a failure: what is left there is not ours to order
    return r;
  }

  Result<void> commit(ObservedProgram &staged) override {
    const std::string live = pins_.dir(staged.name);
    std::error_code ec;
    if (std::filesystem::exists(live, ec)) {
      if (auto r = exchange_dirs(staged.dir, live); !r) return r;
      // staged.dir now holds the previous program: its attachments were swapped or detached.
      (void)remove_tree(staged.dir);
    } else if (::rename(staged.dir.c_str(), live.c_str()) != 0) {
      return fail_errno(errno, "rename {} to {}", staged.dir, live);
    }
    index().rename(staged.dir, live);  // the previous program's entries go with its pins
    staged.dir = live;
    // Map pin paths in the record and status follow the directory.
    for (auto &[m, path] : staged.maps) path = PinLayout::map(live, m);
    return {};
  }

  // XDP: alone under --xdp-mechanism single or where freplace is refused (auto), else libxdp's
  // dispatcher; nothing when the dispatcher is forced and refused (the attach fails). TC: what
  // choose_tc() picks. Both probes run once per process and are cached.
  Capabilities capabilities() override {
    Capabilities caps;
    if (xdp_ == XdpMechanism::Single) caps.xdp = Mechanism::Xdp;
    else if (probe_freplace()) caps.xdp = Mechanism::XdpDispatcher;
    else if (xdp_ == XdpMechanism::Auto) caps.xdp = Mechanism::Xdp;
    if (auto m = choose_tc()) caps.tc = *m;
    return caps;
  }

  Result<void> save(const ObservedProgram &prog) override { return write(prog); }

  std::vector<ReleasedPin> release_unused_shared_maps(bool changed) override {
    std::vector<ReleasedPin> out;
    if (!changed && swept_) return out;
    swept_ = true;
    const std::string root = pins_.shared_maps_root();
    const auto groups = list_dir(root);
    if (groups.empty()) {
      (void)::rmdir(root.c_str());
      return out;
    }
    // Every record under the pin root, staging ones included. A program directory whose record
    // cannot be read may name any group pin: then nothing is released. Read from the records,
    // not the hook index: this runs once per apply, and must see every record's shared maps.
    std::string unreadable;
    const std::vector<ObservedProgram> records = all_records(&unreadable);
    if (!unreadable.empty()) {
      spdlog::debug("shared maps: not released while {}", unreadable);
      return out;
    }
    std::vector<std::string> pins;
    for (const auto &g : groups)
      for (const auto &m : list_dir(pins_.group_dir(g))) pins.push_back(pins_.group_dir(g) + "/" + m);
    for (const auto &pin : unused_shared_pins(pins, records)) {
      ReleasedPin r{pin, ""};
      if (::unlink(pin.c_str()) != 0 && errno != ENOENT) r.error = fmt::format("unpin {}: {}", pin, std::strerror(errno));
      out.push_back(std::move(r));
    }
    for (const auto &g : groups) (void)::rmdir(pins_.group_dir(g).c_str());  // only empty ones go
    (void)::rmdir(root.c_str());
    return out;
  }

 private:
  // The pins and record of program directory `dir` (pin-root entry `entry`), before any hook
  // is checked.
  ObservedProgram read_pins(const std::string &name, const std::string &dir) {
    ObservedProgram p;
    p.name = name;
    p.dir = dir;
    if (auto r = records_.read(p); !r) {
      spdlog::warn("program {}: {}", name, r.error().message);
      p.intact = false;
      // A record that is there but cannot be read (not one that is missing or malformed).
      if (r.error().code != 0 && r.error().code != ENOENT) p.unreadable = r.error().message;
    }
    if (const uint32_t id = pins_seen_.prog_id(PinLayout::prog(dir))) {
      p.prog_id = id;
    } else {
      // The program pin was removed behind our back: the record still names the program, which
      // lives on while a hook or link holds it. Keep its id so it can be found and replaced.
      p.intact = false;
      UniqueFd by_id(p.prog_id ? bpf_prog_get_fd_by_id(p.prog_id) : -1);
      if (!by_id.valid()) p.prog_id = 0;
    }
    if (auto maps = pins_seen_.list(PinLayout::maps_dir(dir)); !maps) {
      spdlog::warn("program {}: {}", name, maps.error().message);
      if (p.unreadable.empty()) p.unreadable = maps.error().message;
    } else {
      for (const auto &m : *maps) p.maps[m] = PinLayout::map(dir, m);
    }
    return p;
  }

  // One program directory as the observation sees it. Its pins and record are read again only
  // when the journal saw a change in it since the last read (pin_journal.h); its attachments
  // are checked every time, the pin-only ones (perf links, a dispatcher component's program)
  // from the cache while the journal vouches for them. `changed` is set when anything differs
  // from the last observation.
  Seen &check_program(const std::string &entry, const std::string &name, const std::string &dir,
                      XdpHookCache &xdp_hooks, bool &changed) {
    auto cached = seen_.find(entry);
    const bool clean = cached != seen_.end() && journal_.clean(entry);
    if (!clean) {
      (void)journal_.begin_read(entry);  // before the read: a change during it is seen next time
      changed = true;
      ObservedProgram raw = read_pins(name, dir);
      cached = seen_.insert_or_assign(entry, Seen{std::move(raw), {}}).first;
    }
    if (clean) records_.keep(dir);
    Seen &seen = cached->second;
    std::vector<Check> checks;
    checks.reserve(seen.raw.attachments.size());
    for (const auto &[key, a] : seen.raw.attachments) {
      const Check c = attachers_.attacher_for(a.mechanism).in_place(ctx_, seen.raw, a, xdp_hooks, clean);
      if (!c.ok) spdlog::warn("drift: program {} is no longer attached at {}", name, a.target);
      checks.push_back(c);
    }
    if (checks != seen.checks) changed = true;
    seen.checks = std::move(checks);
    return seen;
  }

  // The mechanism of a new attachment of `spec` at `a`: XDP alone or in libxdp's dispatcher
  // (by --xdp-mechanism and whether freplace works; `why` gets the reason for alone), TC by
  // choose_tc() (and whether it honours a's proceed_on), perf links and the other links by the
  // type's attacher family.
  Result<Mechanism> choose_mechanism(const ProgramSpec &spec, const AttachSpec &a, std::string &why) {
    switch (descriptor(spec.type).attacher) {
      case AttacherKind::Xdp:
        if (xdp_ == XdpMechanism::Single) {
          why = "--xdp-mechanism single";
          return Mechanism::Xdp;
        }
        if (auto ok = probe_freplace(); !ok) {
          if (xdp_ == XdpMechanism::Auto) {
            why = "this kernel refuses freplace: " + ok.error().message;
            return Mechanism::Xdp;
          }
          return fail(ok.error()
                          .with_message(fmt::format("attach XDP to {}: libxdp's dispatcher needs freplace, which this kernel refuses: {}",
                                                    a.target_label(spec.type), ok.error().message))
                          .with_kind(ErrorKind::Unsupported));
        }
        return Mechanism::XdpDispatcher;
      case AttacherKind::Tc: {
        auto m = choose_tc();
        if (!m) return m;
        if (auto c = check_tc_proceed_on(*m, spec.manifest, a); !c) return std::unexpected(c.error());
        return m;
      }
      case AttacherKind::Tracepoint:
      case AttacherKind::Uprobe:
      case AttacherKind::Kprobe: return Mechanism::PerfLink;
      case AttacherKind::Trampoline:
      case AttacherKind::RawTracepoint:
      case AttacherKind::Cgroup:
      case AttacherKind::NetnsLink:
      case AttacherKind::Netfilter: return Mechanism::Link;
    }
    return fail("{}: no attacher", to_string(spec.type));
  }

  // The mechanism for a new TC attachment: TCX where the kernel has it, else the TC dispatcher
  // where freplace works, else one cls_bpf filter per program. Probed once per daemon.
  Result<Mechanism> choose_tc() {
    if (!tcx_probed_) {
      tcx_ = probe_tcx();
      tcx_probed_ = true;
      spdlog::info("TCX {}", tcx_ ? "is available" : "is not available on this kernel");
    }
    // Why freplace is refused (probed once per process, cached by probe_freplace()); empty when it works.
    auto freplace = [&]() -> std::string {
      auto ok = probe_freplace();
      if (!freplace_logged_) {
        freplace_logged_ = true;
        if (ok) spdlog::info("freplace works: TC attach points share hooks through the TC dispatcher where TCX is missing");
        else spdlog::info("freplace is refused ({}): no TC dispatcher", ok.error().message);
      }
      return ok ? std::string() : ok.error().message;
    };
    switch (tc_) {
      case TcMechanism::Tcx: return Mechanism::Tcx;
      case TcMechanism::Tc: return Mechanism::Tc;
      case TcMechanism::Dispatcher:
        if (!freplace().empty()) return fail(Error{EOPNOTSUPP, fmt::format("TC dispatcher: {}", freplace())});
        return Mechanism::TcDispatcher;
      case TcMechanism::Auto: break;
    }
    if (tcx_) return Mechanism::Tcx;
    return freplace().empty() ? Mechanism::TcDispatcher : Mechanism::Tc;
  }

  // Every record under the pin root (live and staging directories), read from disk. A record
  // that cannot be read is left out; with `unreadable`, the first such is described there
  // ("the record of DIR cannot be read: ERROR").
  std::vector<ObservedProgram> all_records(std::string *unreadable = nullptr) {
    std::vector<ObservedProgram> out;
    for (const auto &entry : list_dir(pins_.root)) {
      const bool staging = entry.starts_with(PinLayout::kStagingPrefix);
      ObservedProgram p;
      p.name = staging ? entry.substr(std::strlen(PinLayout::kStagingPrefix)) : entry;
      if (!valid_program_name(p.name)) continue;
      p.dir = pins_.root + "/" + entry;
      if (auto r = records_.read(p); r) out.push_back(std::move(p));
      else if (unreadable && unreadable->empty())
        *unreadable = fmt::format("the record of {} cannot be read: {}", p.dir, r.error().message);
    }
    return out;
  }

  // Writes `p`'s record and, once written, puts it in the hook index: every record write of
  // this object goes through here, so the index stays what the records say through an apply.
  Result<void> write(const ObservedProgram &p) {
    auto r = write_record(p);
    if (r) index().put(p);
    return r;
  }

  // The hook index: the last observation's, kept up to date by write(), unload() and commit();
  // read from every record when no observation built it (a kernel object used before observing,
  // or after a listing failed).
  HookIndex &index() {
    if (!index_built_) {
      index_.clear();
      for (const auto &p : all_records()) index_.put(p);
      index_built_ = true;
    }
    return index_;
  }

  PinLayout pins_;
  PinJournal journal_{pins_.root};  // what changed in the pin root since it was read
  std::unordered_map<std::string, Seen> seen_;  // by pin-root entry
  std::shared_ptr<const ObservedState> last_;  // the last observation (returned again while unchanged)
  std::vector<std::string> listing_;           // the pin root's entries as last read
  uint64_t version_ = 0;  // ObservedState::version of last_
  bool journal_logged_ = false;  // the journal's problem() is logged once
  RecordCache records_;  // parsed records of the last observation, by directory
  PinCache pins_seen_;   // program ids, perf links and map listings by pin identity (pin_cache.h)
  BytecodeStore bytecode_;  // the bytes of every program pinned, by digest (bytecode.h)
  HookIndex index_;           // our attachments by hook (attachers/hook_index.h), see index()
  bool index_built_ = false;  // index_ holds every record: built by an observation or index()
  Attachers attachers_;       // one per mechanism (attachers/attacher.h)
  AttachContext ctx_{pins_, [this]() -> HookIndex & { return index(); }, bytecode_, pins_seen_,
                     [this](const ObservedProgram &p) { return write(p); }};
  TcMechanism tc_;
  XdpMechanism xdp_;
  bool tcx_probed_ = false, tcx_ = false;
  bool freplace_logged_ = false;
  bool swept_ = false;  // release_unused_shared_maps() ran once in this process
};

}  // namespace

std::unique_ptr<Kernel> make_libbpf_kernel(const std::string &pin_root, TcMechanism tc, XdpMechanism xdp,
                                           ObjectStore *objects) {
  return std::make_unique<LibbpfKernel>(pin_root, tc, xdp, objects);
}

}  // namespace bpfrec
