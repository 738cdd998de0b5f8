#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <set>

#include <spdlog/spdlog.h>

#include "kernel/attach.h"
#include "kernel/attach_netfilter.h"
#include "kernel/attach_netns.h"
#include "kernel/attach_tracing.h"
#include "kernel/features.h"
#include "kernel/pin_cache.h"
#include "kernel/pin_journal.h"
#include "kernel/pinned_object.h"
#include "kernel/fs.h"
#include "kernel/kernel.h"
#include "kernel/libbpf_log.h"
#include "kernel/load.h"
#include "kernel/netns.h"
#include "kernel/record.h"
#include "kernel/tc_shared.h"
#include "manifest/object_info.h"
#include "manifest/validate.h"
#include "reconcile/identity.h"
#include "reconcile/shared_maps.h"
#include "types/type.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

class LibbpfKernel final : public Kernel {
  // Per pin-root entry: what its pins and record held when last read, and what the checks of
  // its attachments found at the last observation.
  struct Check {
    bool ok = false;       // still in place
    uint32_t live_id = 0;  // what runs there (in_place())
    bool operator==(const Check &) const = default;
  };
  struct Seen {
    ObservedProgram raw;
    std::vector<Check> checks;  // in the order of raw.attachments
  };

 public:
  LibbpfKernel(std::string pin_root, TcMechanism tc, XdpMechanism xdp)
      : pins_{std::move(pin_root)}, tc_(tc), xdp_(xdp) {}

  ObservedState observe() override { return *observe_shared(); }

  // Two passes: every entry's pins (read again only where the journal saw a change) and the
  // checks of its attachments; then, only when something differs from the last observation, a
  // new ObservedState from them. Unchanged, the last one is returned as it is.
  std::shared_ptr<const ObservedState> observe_shared() override {
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
        auto st = std::make_shared<ObservedState>();
        st->error = entries.error().message;
        st->version = ++version_;
        last_.reset();  // read the listing again next time
        listing_.clear();
        return st;
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
          if (it->second.mechanism == Mechanism::XdpDispatcher) it->second.prog_id = c.live_id;
          else if (it->second.mechanism != Mechanism::Xdp && it->second.mechanism != Mechanism::Tc)
            it->second.link_id = c.live_id;
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
    auto r = load_program(spec, dir, LoadContext{pins_, records_, bytecode_, write_record});
    if (!r) (void)remove_tree(dir);  // no half-pinned program left behind
    return r;
  }

 private:


 public:
  Result<AttachRecord> attach(ObservedProgram &prog, const ProgramSpec &spec, const AttachSpec &a) override {
    const std::string key = attach_key(spec.type, a);
    auto fd = open_prog(prog);
    if (!fd) return std::unexpected(fd.error());
    const std::string link_pin = PinLayout::link(prog.dir, key);
    (void)::unlink(link_pin.c_str());  // a stale pin from an interrupted attach or a dead link
    Result<AttachRecord> r = fail("unsupported program type");
    // Routed by the type's attacher (types/): one branch per mechanism family.
    switch (descriptor(spec.type).attacher) {
      case AttacherKind::Xdp:
        if (xdp_ == XdpMechanism::Single)
          r = attach_xdp(fd->get(), a, "--xdp-mechanism single");
        else if (xdp_ == XdpMechanism::Auto && !probe_freplace())
          r = attach_xdp(fd->get(), a, "this kernel refuses freplace: " + probe_freplace().error().message);
        else if (auto ok = probe_freplace(); !ok)
          r = fail("attach XDP to {}: libxdp's dispatcher needs freplace, which this kernel refuses: {}",
                   a.target_label(spec.type), ok.error().message);
        else
          r = attach_xdp_dispatched(prog, spec, a, link_pin);
        break;
      case AttacherKind::Tc: r = attach_tc_shared(prog, spec, a, key, fd->get()); break;
      case AttacherKind::Tracepoint: r = attach_tracepoint(fd->get(), a, link_pin); break;
      case AttacherKind::Uprobe: {
        // A library name is resolved here, on the node, at every attach (issue 10, point 5).
        auto path = resolve_uprobe_target(a);
        if (!path)
          r = fail(Error{path.error().code, fmt::format("{}:{}:{}: error: uprobe target '{}': {}", spec.manifest,
                                                        a.target_pos.line, a.target_pos.column, a.target,
                                                        path.error().message)});
        else
          r = attach_uprobe(fd->get(), descriptor(spec.type).retprobe, a, *path, link_pin);
        break;
      }
      case AttacherKind::Kprobe: r = attach_kprobe(fd->get(), descriptor(spec.type).retprobe, a, link_pin); break;
      case AttacherKind::Trampoline: r = attach_trampoline(fd->get(), spec.type, a, link_pin); break;
      case AttacherKind::RawTracepoint: r = attach_raw_tracepoint(fd->get(), a, link_pin); break;
      case AttacherKind::Cgroup: r = attach_cgroup(fd->get(), spec.type, a, link_pin); break;
      case AttacherKind::NetnsLink: r = attach_netns_link(fd->get(), spec.type, a, link_pin); break;
      case AttacherKind::Netfilter: r = attach_netfilter(fd->get(), a, link_pin); break;
    }
    if (!r) return r;
    r->key = key;
    r->spec = a;
    prog.attachments[key] = *r;
    if (auto w = write_record(prog); !w) {
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
    AttachRecord rec = it->second;
    auto old_fd = open_prog(from);
    if (!old_fd) return std::unexpected(old_fd.error());
    auto new_fd = open_prog(to);
    if (!new_fd) return std::unexpected(new_fd.error());
    // Perf links, tracing and raw tracepoint links cannot change program, and a libxdp
    // dispatcher changes one component by building a new dispatcher: run both for a moment
    // rather than neither.
    if (rec.mechanism == Mechanism::PerfLink || rec.mechanism == Mechanism::XdpDispatcher ||
        (rec.mechanism == Mechanism::Link && !link_updatable(spec.type))) {
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
    if (auto w = write_record(to); !w) {
      to.attachments.erase(key);
      return w;
    }
    auto undo_intent = [&] {
      to.attachments.erase(key);
      (void)write_record(to);
    };
    switch (rec.mechanism) {
      case Mechanism::Xdp:
        if (auto r = swap_xdp(old_fd->get(), new_fd->get(), a, rec); !r) return undo_intent(), r;
        break;
      case Mechanism::Tc:
        if (auto r = swap_tc(from.prog_id, new_fd->get(), rec); !r) return undo_intent(), r;
        break;
      case Mechanism::TcDispatcher: {
        // A new dispatcher with `to` in the slot of `from`, swapped in atomically.
        ObservedProgram without = from;
        without.attachments.erase(key);
        auto ids = tc_dispatcher_sync(pins_.root, rec.spec, dispatcher_members(rec.spec, {&without, &to}));
        if (!ids) return undo_intent(), std::unexpected(ids.error());
        to.attachments[key].link_id = (*ids)[to.name + "-" + key];
        if (auto w = write_record(to); !w) return w;
        break;
      }
      case Mechanism::Tcx:
      case Mechanism::Link: {
        // Same link, new program (TCX, cgroup): the link id stays, and the pin moves to the new directory.
        const std::string old_pin = PinLayout::link(from.dir, key), new_pin = PinLayout::link(to.dir, key);
        if (auto r = update_pinned_link(old_pin, new_fd->get()); !r) return undo_intent(), r;
        if (::rename(old_pin.c_str(), new_pin.c_str()) != 0) {
          int err = errno;
          (void)update_pinned_link(old_pin, old_fd->get());
          undo_intent();
          return fail_errno(err, "move link pin {}", old_pin);
        }
        break;
      }
      case Mechanism::XdpDispatcher:
      case Mechanism::PerfLink: break;  // side by side, above
    }
    from.attachments.erase(key);
    return write_record(from);
  }

  Result<void> detach(ObservedProgram &prog, const std::string &key) override {
    auto it = prog.attachments.find(key);
    if (it == prog.attachments.end()) return {};
    const AttachRecord &rec = it->second;
    Result<void> r;
    switch (rec.mechanism) {
      case Mechanism::Xdp: {
        // Another attach point of ours on the same hook (e.g. only its priority changed) keeps
        // the program there: forget this record without touching the hook.
        bool shared = false;
        for (auto &[k, other] : prog.attachments)
          shared |= k != key && other.mechanism == Mechanism::Xdp && other.netns == rec.netns &&
                    other.ifindex == rec.ifindex;
        if (shared) break;
        auto fd = open_prog(prog);
        if (!fd) return std::unexpected(fd.error());
        r = detach_xdp(fd->get(), rec);
        break;
      }
      case Mechanism::XdpDispatcher: {
        const std::string pin = PinLayout::link(prog.dir, key);
        UniqueFd component(bpf_obj_get(pin.c_str()));
        if (component.valid()) r = detach_xdp(component.get(), rec);
        if (r) (void)::unlink(pin.c_str());
        break;
      }
      case Mechanism::Tc: r = detach_tc(prog.prog_id, rec, pins_.root); break;
      case Mechanism::TcDispatcher: {
        ObservedProgram without = prog;
        without.attachments.erase(key);
        auto ids = tc_dispatcher_sync(pins_.root, rec.spec, dispatcher_members(rec.spec, {&without}));
        // The namespace or interface is gone, and the dispatcher with it.
        if (!ids && ids.error().code != ENOENT && ids.error().code != ENODEV) r = std::unexpected(ids.error());
        break;
      }
      case Mechanism::Tcx:
      case Mechanism::PerfLink:
      case Mechanism::Link: r = detach_pinned_link(PinLayout::link(prog.dir, key)); break;
    }
    if (!r) return r;
    prog.attachments.erase(it);
    return write_record(prog);
  }

  Result<void> unload(const ObservedProgram &prog) override { return remove_tree(prog.dir); }

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
    staged.dir = live;
    // Map pin paths in the record and status follow the directory.
    for (auto &[m, path] : staged.maps) path = PinLayout::map(live, m);
    return {};
  }

  Result<void> save(const ObservedProgram &prog) override { return write_record(prog); }

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
    // cannot be read may name any group pin: then nothing is released.
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
      Check c;
      c.ok = in_place(seen.raw, a, xdp_hooks, &c.live_id, clean);
      if (!c.ok) spdlog::warn("drift: program {} is no longer attached at {}", name, a.target);
      checks.push_back(c);
    }
    if (checks != seen.checks) changed = true;
    seen.checks = std::move(checks);
    return seen;
  }

  // XDP in libxdp's dispatcher: a second load of the program for this attach point (libxdp
  // loads it as an EXT component), sharing every map of the pinned program.
  Result<AttachRecord> attach_xdp_dispatched(const ObservedProgram &prog, const ProgramSpec &spec,
                                             const AttachSpec &a, const std::string &component_pin) {
    std::vector<uint32_t> map_ids;
    bpf_program *component = nullptr;
    // The bytes the pinned program was loaded from (its record's digest), not the path's now.
    auto code = bytecode_.get(prog.bytecode_sha256, spec.bytecode_path);
    if (!code) return std::unexpected(code.error());
    auto obj = open_sharing_pinned_maps(*code, spec.bytecode_path, spec.bpf_function, prog.dir, &component, &map_ids);
    if (!obj) return std::unexpected(obj.error());
    if (auto t = fix_program_type(component, ProgramType::Xdp); !t) return std::unexpected(t.error());
    std::vector<uint32_t> claimed;
    for (auto &[k, r] : prog.attachments)
      if (r.mechanism == Mechanism::XdpDispatcher && r.prog_id) claimed.push_back(r.prog_id);
    recent_libbpf_log().clear();
    auto r = attach_xdp_component(obj->get(), component, a, map_ids, claimed, component_pin);
    if (!r && !recent_libbpf_log().empty()) r.error().message += "; libxdp: " + recent_libbpf_log().back();
    return r;
  }

  // The pinned program, or (pin removed by hand) the program by its recorded id.
  Result<UniqueFd> open_prog(const ObservedProgram &prog) {
    UniqueFd fd(bpf_obj_get(PinLayout::prog(prog.dir).c_str()));
    if (!fd.valid() && prog.prog_id) fd.reset(bpf_prog_get_fd_by_id(prog.prog_id));
    if (!fd.valid()) return fail_errno(errno, "open {}", PinLayout::prog(prog.dir));
    return fd;
  }

  // Whether attachment `a` still runs program `p`. `live_id` gets what runs there: the link id
  // (TCX, perf and tracing links, the TC dispatcher slot's freplace link) or the XDP dispatcher
  // component's program id; untouched for XDP alone and cls_bpf, whose record has it all.
  // `trusted`: the journal vouches that p's pins are the ones last read (pin_journal.h).
  bool in_place(const ObservedProgram &p, const AttachRecord &a, XdpHookCache &xdp_hooks, uint32_t *live_id,
                bool trusted) {
    switch (a.mechanism) {
      case Mechanism::Xdp: return p.prog_id != 0 && xdp_in_place(p.prog_id, a, xdp_hooks);
      case Mechanism::XdpDispatcher: {
        // The component is a program pin: its id is fixed while the pin is the same.
        *live_id = pins_seen_.prog_id(PinLayout::link(p.dir, a.key), trusted);
        if (!*live_id) return false;
        return xdp_in_place(*live_id, a, xdp_hooks);
      }
      case Mechanism::Tc: return tc_in_place(p.prog_id, a);
      case Mechanism::TcDispatcher: return tc_dispatcher_in_place(pins_.root, p.name, a, live_id);
      case Mechanism::Tcx: {
        // The link must run this program: after an interrupted replace a link pinned here can
        // run the staged one. A TCX link can be detached (or lose its device) while pinned:
        // asked every time.
        uint32_t prog_id = 0;
        *live_id = pinned_link_id(PinLayout::link(p.dir, a.key), &prog_id);
        return *live_id != 0 && prog_id == p.prog_id;
      }
      case Mechanism::PerfLink: {
        // A perf link can be neither detached nor given another program while pinned: the
        // same pin is the same link on the same program (pin_cache.h).
        uint32_t prog_id = 0;
        *live_id = pins_seen_.perf_link_id(PinLayout::link(p.dir, a.key), &prog_id,
                                           [](const std::string &pin, uint32_t *prog) { return pinned_link_id(pin, prog); },
                                           trusted);
        return *live_id != 0 && prog_id == p.prog_id;
      }
      case Mechanism::Link: {
        uint32_t prog_id = 0;
        *live_id = pinned_live_link_id(PinLayout::link(p.dir, a.key), &prog_id);
        return *live_id != 0 && prog_id == p.prog_id;
      }
    }
    return false;
  }

  // --- shared TC hooks (tc_shared.h) ---

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

  Result<AttachRecord> attach_tc_shared(ObservedProgram &prog, const ProgramSpec &spec, const AttachSpec &a,
                                        const std::string &key, int fd) {
    auto m = choose_tc();
    if (!m) return std::unexpected(m.error());
    if (auto c = check_tc_proceed_on(*m, spec.manifest, a); !c) return std::unexpected(c.error());
    switch (*m) {
      case Mechanism::Tcx: return attach_tcx_ordered(fd, prog.name, a, PinLayout::link(prog.dir, key), tcx_peers(a));
      case Mechanism::TcDispatcher: {
        AttachRecord rec;
        rec.key = key;
        rec.mechanism = Mechanism::TcDispatcher;
        rec.target = a.target_label(ProgramType::Tc);
        rec.netns = a.netns;
        rec.egress = a.direction == TcDirection::Egress;
        rec.tc_handle = kTcDispatcherHandle;
        rec.tc_priority = kTcDispatcherPriority;
        rec.spec = a;
        if (auto idx = ifindex_in(a.netns, a.interface); idx) rec.ifindex = *idx;
        else return std::unexpected(idx.error());
        ObservedProgram with = prog;
        with.attachments[key] = rec;
        auto ids = tc_dispatcher_sync(pins_.root, a, dispatcher_members(a, {&with}));
        if (!ids) return std::unexpected(ids.error());
        rec.link_id = (*ids)[prog.name + "-" + key];
        return rec;
      }
      default: {
        // Our other cls_bpf filters: those on this hook place it, every one's handle is taken.
        std::vector<TcSlotPeer> peers;
        std::set<uint32_t> taken{kTcDispatcherHandle};
        for (const auto &p : all_records())
          for (const auto &[k, rec] : p.attachments) {
            if (rec.mechanism != Mechanism::Tc || (p.dir == prog.dir && k == key)) continue;
            taken.insert(rec.tc_handle);
            if (same_tc_hook(rec.spec, a))
              peers.push_back({rec.spec.priority, p.name, k, TcSlot{rec.tc_priority, rec.tc_handle}});
          }
        auto slot = choose_tc_slot(a.priority, prog.name, key, peers, taken);
        if (!slot) return fail(Error{slot.error().code, fmt::format("attach cls_bpf to {}: {}", a.target_label(ProgramType::Tc),
                                                                    slot.error().message)});
        if (!slot->inexact.empty()) spdlog::warn("program {}: {}", prog.name, slot->inexact);
        return attach_tc(fd, a, *slot, std::move(taken), pins_.root);
      }
    }
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

  // Our TCX links on `hook` (kernel link id -> priority, program), from the records' pinned links.
  // Only links recorded for the same hook (netns, interface, direction) are opened: opening every
  // TCX link pin made each attach O(programs). A link recorded under an interface's old name is
  // left out, and ordered as if it were foreign.
  std::map<uint32_t, TcxPeer> tcx_peers(const AttachSpec &hook) {
    std::map<uint32_t, TcxPeer> peers;
    for (const auto &p : all_records())
      for (const auto &[k, rec] : p.attachments)
        if (rec.mechanism == Mechanism::Tcx && same_tc_hook(rec.spec, hook))
          if (uint32_t id = pinned_link_id(PinLayout::link(p.dir, k))) peers[id] = TcxPeer{rec.spec.priority, p.name};
    return peers;
  }

  // The dispatcher members of `hook`: the TcDispatcher attachments of every record on disk, with
  // the programs in `current` (by directory) taken as given instead of as recorded.
  std::vector<TcDispatcherMember> dispatcher_members(const AttachSpec &hook,
                                                     std::initializer_list<const ObservedProgram *> current) {
    std::vector<TcDispatcherMember> out;
    auto add = [&](const ObservedProgram &p) {
      for (const auto &[k, rec] : p.attachments)
        if (rec.mechanism == Mechanism::TcDispatcher && same_tc_hook(rec.spec, hook))
          out.push_back(TcDispatcherMember{p.name, k, p.dir, p.bytecode_path, bytecode_.get(p.bytecode_sha256, p.bytecode_path),
                                           p.bpf_function, rec.spec.priority, rec.spec.proceed_on});
    };
    for (const auto &p : all_records()) {
      bool given = false;
      for (const auto *c : current) given |= c->dir == p.dir;
      if (!given) add(p);
    }
    for (const auto *c : current) add(*c);
    return out;
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
  TcMechanism tc_;
  XdpMechanism xdp_;
  bool tcx_probed_ = false, tcx_ = false;
  bool freplace_logged_ = false;
  bool swept_ = false;  // release_unused_shared_maps() ran once in this process
};

}  // namespace

std::unique_ptr<Kernel> make_libbpf_kernel(const std::string &pin_root, TcMechanism tc, XdpMechanism xdp) {
  return std::make_unique<LibbpfKernel>(pin_root, tc, xdp);
}

}  // namespace bpfrec
