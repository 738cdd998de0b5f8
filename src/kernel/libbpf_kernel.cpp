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

// The last lines libbpf/libxdp printed, for error messages (the verifier log ends up here).
std::deque<std::string> &recent_log() {
  static std::deque<std::string> lines;
  return lines;
}

void remember(const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.empty()) return;
  spdlog::debug("libbpf: {}", line);
  auto &lines = recent_log();
  lines.push_back(std::move(line));
  while (lines.size() > 8) lines.pop_front();
}

int libbpf_print(enum libbpf_print_level, const char *fmt, va_list ap) {
  remember(fmt, ap);
  return 0;
}

int libxdp_print(enum libxdp_print_level, const char *fmt, va_list ap) {
  remember(fmt, ap);
  return 0;
}

// Applies global_data overrides to the internal .rodata/.data maps before load.
Result<void> apply_globals(bpf_object *obj, const ProgramSpec &spec) {
  if (spec.global_data.empty()) return {};
  const btf *b = bpf_object__btf(obj);
  if (!b) return fail("{} has no BTF; global_data needs it", spec.bytecode_path);
  for (const char *sec : {".rodata", ".data"}) {
    int id = btf__find_by_name_kind(b, sec, BTF_KIND_DATASEC);
    if (id < 0) continue;
    bpf_map *map = nullptr;  // borrowed from obj
    bpf_map *m;
    bpf_object__for_each_map(m, obj) {
      std::string n = bpf_map__name(m);
      if (bpf_map__is_internal(m) && n.size() >= std::strlen(sec) && n.ends_with(sec)) map = m;
    }
    if (!map) continue;
    size_t size = 0;
    const void *init = bpf_map__initial_value(map, &size);
    if (!init) continue;
    std::vector<uint8_t> data(static_cast<const uint8_t *>(init), static_cast<const uint8_t *>(init) + size);
    const btf_type *ds = btf__type_by_id(b, id);
    const btf_var_secinfo *vs = btf_var_secinfos(ds);
    bool changed = false;
    for (unsigned i = 0; i < btf_vlen(ds); ++i, ++vs) {
      const btf_type *var = btf__type_by_id(b, vs->type);
      const char *vname = btf__name_by_offset(b, var->name_off);
      for (auto &g : spec.global_data) {
        if (g.name != vname) continue;
        std::vector<uint8_t> bytes;
        if (auto *iv = std::get_if<int64_t>(&g.value)) {
          const btf_type *t = btf__type_by_id(b, var->type);
          while (t && (btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t))) t = btf__type_by_id(b, t->type);
          bool is_signed = t && btf_is_int(t) && (btf_int_encoding(t) & BTF_INT_SIGNED);
          if (!encode_integer(*iv, vs->size, is_signed, bytes))
            return fail("global_data '{}' does not fit {} bytes", g.name, vs->size);
        } else {
          bytes = std::get<std::vector<uint8_t>>(g.value);
        }
        if (bytes.size() != vs->size || vs->offset + vs->size > data.size())
          return fail("global_data '{}' has {} bytes, the variable has {}", g.name, bytes.size(), vs->size);
        std::copy(bytes.begin(), bytes.end(), data.begin() + vs->offset);
        changed = true;
      }
    }
    if (changed && bpf_map__set_initial_value(map, data.data(), data.size()) != 0)
      return fail_errno(errno, "set initial value of {}", sec);
  }
  return {};
}

// An object opened for loading `spec`'s program (only that one autoloads) with its global_data
// applied. Maps marked LIBBPF_PIN_BY_NAME get their pin path in `group_dir`
// (<pin-root>/_maps/<group>, libbpf's pin_root_path), so libbpf reuses a map pinned there by
// another program of the group (after its own compatibility check) or creates and pins it; not
// /sys/fs/bpf, where other loaders would share them.
struct OpenedObject {
  Bytecode code;  // the object reads these bytes until it is closed: declared first, destroyed last
  BpfObjectPtr obj;
  bpf_program *prog = nullptr;  // borrowed from obj
};

Result<OpenedObject> open_object(const ProgramSpec &spec, const Bytecode &code, const std::string &group_dir) {
  DECLARE_LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = group_dir.c_str());
  OpenedObject o;
  o.code = code;
  o.obj.reset(open_bytecode(o.code, spec.bytecode_path, &oopts));
  if (!o.obj) return fail_errno(errno, "open {}", spec.bytecode_path);
  bpf_program *p;
  bpf_object__for_each_program(p, o.obj.get()) {
    const bool mine = spec.bpf_function == bpf_program__name(p);
    (void)bpf_program__set_autoload(p, mine);
    if (mine) o.prog = p;
  }
  if (!o.prog) return fail("{} has no program {}", spec.bytecode_path, spec.bpf_function);
  if (auto r = fix_program_type(o.prog, spec.type); !r) return std::unexpected(r.error());
  if (auto r = apply_globals(o.obj.get(), spec); !r) return std::unexpected(r.error());
  return o;
}

// "path:line:col: error: " at the key a map sharing problem of `spec` is reported at: its
// map_group when the manifest names one, else its name.
std::string sharing_error_prefix(const ProgramSpec &spec) {
  const SourcePos at = spec.map_group_explicit ? spec.map_group_pos : spec.name_pos;
  return fmt::format("{}:{}:{}: error: ", spec.manifest, at.line, at.column);
}

// The definition of map `m` as the object gives it (before load).
MapDef map_def_of(const bpf_map *m) {
  return {static_cast<uint32_t>(bpf_map__type(m)), bpf_map__key_size(m), bpf_map__value_size(m),
          bpf_map__max_entries(m), bpf_map__map_flags(m)};
}

// The definition of the kernel's map behind `fd` (pinned at `pin`, for the error); `info` gets
// the whole answer (its id). Errors: BPF_OBJ_GET_INFO_BY_FD's errno.
Result<MapDef> pinned_map_def(int fd, const std::string &pin, bpf_map_info &info) {
  info = {};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return fail_errno(errno, "read map pin {}", pin);
  return MapDef{info.type, info.key_size, info.value_size, info.max_entries, info.map_flags};
}

// Before the load: every LIBBPF_PIN_BY_NAME map of `obj` whose group pin exists must match it
// (libbpf checks the same and fails the whole load with a bare EINVAL; this names the map, the
// group and what differs). Errors are positioned at the program (sharing_error_prefix()).
Result<void> check_shared_maps(bpf_object *obj, const ProgramSpec &spec) {
  bpf_map *m;
  bpf_object__for_each_map(m, obj) {
    const char *pin = bpf_map__pin_path(m);
    if (!pin) continue;
    UniqueFd fd(bpf_obj_get(pin));
    if (!fd.valid()) {
      if (errno == ENOENT) continue;  // the group's first program: libbpf creates and pins it
      return fail(Error{errno, fmt::format("{}map '{}' of map group '{}': cannot open its pin {}: {}",
                                           sharing_error_prefix(spec), bpf_map__name(m), spec.map_group, pin,
                                           std::strerror(errno))});
    }
    bpf_map_info info;
    auto pinned = pinned_map_def(fd.get(), pin, info);
    if (!pinned) return std::unexpected(pinned.error());
    if (auto diff = map_def_mismatch(*pinned, map_def_of(m)); !diff.empty())
      return fail(Error{EINVAL, fmt::format("{}map '{}' of map group '{}' (pinned at {}, map id {}) is defined "
                                            "otherwise in {}: {}; the programs of one map group share such "
                                            "maps and must define them alike (give this program another "
                                            "map_group for maps of its own)",
                                            sharing_error_prefix(spec), bpf_map__name(m), spec.map_group, pin,
                                            info.id, spec.bytecode_path, diff)});
  }
  return {};
}

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
    auto r = load_into(spec, dir);
    if (!r) (void)remove_tree(dir);  // no half-pinned program left behind
    return r;
  }

 private:
  Result<ObservedProgram> load_into(const ProgramSpec &spec, const std::string &dir) {
    // Probed once per process: a type this kernel lacks fails here with the reason, before any pin.
    if (auto r = probe_program_type(spec.type); !r)
      return fail(Error{r.error().code, fmt::format("{} programs are not available on this kernel: {}",
                                                    to_string(spec.type), r.error().message)});
    // A leftover directory (e.g. of a load that was interrupted) would make the pins fail.
    if (auto r = remove_tree(dir); !r) return std::unexpected(r.error());
    if (auto r = make_dirs(PinLayout::maps_dir(dir)); !r) return std::unexpected(r.error());
    if (auto r = make_dirs(PinLayout::links_dir(dir)); !r) return std::unexpected(r.error());
    auto code = bytecode_of(spec);
    if (!code) return std::unexpected(code.error());
    const std::string group_dir = pins_.group_dir(spec.map_group);
    auto opened = open_object(spec, *code, group_dir);
    if (!opened) return std::unexpected(opened.error());
    auto &[held, obj, prog] = *opened;
    (void)held;
    ObservedProgram owner;  // map_owner: the record of the program whose maps are reused
    if (!spec.map_owner.empty()) {
      if (auto r = reuse_owner_maps(obj.get(), spec, owner); !r) return std::unexpected(r.error());
    } else if (auto r = check_shared_maps(obj.get(), spec); !r) {
      return std::unexpected(r.error());
    }
    bool shares = false;
    bpf_map *sm;
    bpf_object__for_each_map(sm, obj.get()) shares |= bpf_map__pin_path(sm) != nullptr;
    // libbpf pins a group's first map there itself (mkdir of the last level only).
    if (shares)
      if (auto r = make_dirs(group_dir); !r) return std::unexpected(r.error());
    recent_log().clear();
    if (target_fixed_at_load(spec.type) && !spec.attach.empty()) {
      // fentry/fexit/lsm: the kernel function is the program's attach_btf_id, resolved here from
      // the kernel's BTF by libbpf (which adds "bpf_lsm_" to an lsm hook); the expected attach
      // type (fentry, fexit, lsm) comes from the section.
      const TypeDescriptor &d = descriptor(spec.type);
      const std::string fn = d.load_target(spec.attach[0]);
      if (int err = bpf_program__set_attach_target(prog, 0, fn.c_str()))
        return fail_errno(-err, "{} {} {}: no function {}{} in the kernel's BTF", to_string(spec.type),
                          d.load_target_key, fn, d.load_target_btf_prefix, fn);
    }
    if (int err = bpf_object__load(obj.get())) {
      std::string log;
      for (auto &l : recent_log()) log += (log.empty() ? "" : " | ") + l;
      return fail("load {} from {}: {}{}{}", spec.bpf_function, spec.bytecode_path, std::strerror(-err),
                  log.empty() ? "" : "; libbpf: ", log);
    }
    const int fd = bpf_program__fd(prog);
    if (bpf_obj_pin(fd, PinLayout::prog(dir).c_str()) != 0) return fail_errno(errno, "pin {}", PinLayout::prog(dir));
    ObservedProgram out;
    out.name = spec.name;
    out.dir = dir;
    out.type = std::string(to_string(spec.type));
    out.digest = program_digest(spec);
    out.manifest_name = std::filesystem::path(spec.manifest).filename().string();
    out.manifest_path = spec.manifest;
    out.bytecode_sha256 = spec.bytecode_digest;
    out.bytecode_path = spec.bytecode_path;
    out.bpf_function = spec.bpf_function;
    out.prog_id = prog_id_of(fd);
    out.map_owner = spec.map_owner;
    bpf_map *m;
    bpf_object__for_each_map(m, obj.get()) {
      const std::string pin_name = map_pin_name(m);
      const std::string path = PinLayout::map(dir, pin_name);
      if (const char *shared = bpf_map__pin_path(m)) {
        // Pinned (or found) in its group by libbpf; a second pin under maps/ keeps every map of
        // the program in one place for tools and for the dispatcher components that reuse them.
        if (bpf_obj_pin(bpf_map__fd(m), path.c_str()) != 0) return fail_errno(errno, "pin map {}", path);
        out.shared_maps[bpf_map__name(m)] = shared;
      } else if (bpf_map__pin(m, path.c_str()) != 0) {
        return fail_errno(errno, "pin map {}", path);
      }
      // The owner's shared maps are this program's too: its record names their group pins.
      if (auto om = owner.shared_maps.find(bpf_map__name(m)); om != owner.shared_maps.end())
        out.shared_maps[om->first] = om->second;
      out.maps[pin_name] = path;
      bpf_map_info info{};
      uint32_t len = sizeof info;
      if (bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &len) == 0) out.map_ids[pin_name] = info.id;
    }
    if (auto r = write_record(out); !r) return std::unexpected(r.error());
    bytecode_.put(*code);
    return out;
  }

  // map_owner (bpfman's map_owner_id): every map of `obj` reuses the owner's map of the same
  // name, pinned at <pin-root>/<owner>/maps/<map>; `owner` gets the owner's record (its shared
  // maps). Errors, positioned at map_owner: the owner is not loaded, maps it lacks (all named),
  // a map defined otherwise (type, key or value size, max_entries).
  Result<void> reuse_owner_maps(bpf_object *obj, const ProgramSpec &spec, ObservedProgram &owner) {
    const std::string at = fmt::format("{}:{}:{}: error: ", spec.manifest, spec.map_owner_pos.line,
                                       spec.map_owner_pos.column);
    owner.name = spec.map_owner;
    owner.dir = pins_.dir(spec.map_owner);
    UniqueFd owner_prog(bpf_obj_get(PinLayout::prog(owner.dir).c_str()));
    if (!owner_prog.valid())
      return fail(Error{ENOENT, fmt::format("{}map_owner '{}' is not loaded (no program pinned at {})", at,
                                            spec.map_owner, PinLayout::prog(owner.dir))});
    (void)records_.read(owner);  // its shared maps; none when unreadable
    std::vector<std::string> missing, differ;
    bpf_map *m;
    bpf_object__for_each_map(m, obj) {
      (void)bpf_map__set_pin_path(m, nullptr);  // the owner's map, not the group's
      const std::string pin = PinLayout::map(owner.dir, map_pin_name(m));
      UniqueFd fd(bpf_obj_get(pin.c_str()));
      if (!fd.valid()) {
        missing.push_back(bpf_map__name(m));
        continue;
      }
      bpf_map_info info;
      auto pinned = pinned_map_def(fd.get(), pin, info);
      if (!pinned) return std::unexpected(pinned.error());
      // Flags are libbpf's to choose for internal maps (mmapable, read-only): not compared.
      MapDef mine = map_def_of(m);
      pinned->flags = mine.flags = 0;
      if (auto diff = map_def_mismatch(*pinned, mine); !diff.empty()) {
        differ.push_back(fmt::format("'{}': {}", bpf_map__name(m), diff));
        continue;
      }
      if (int err = bpf_map__reuse_fd(m, fd.get())) return fail_errno(-err, "reuse map {}", pin);
    }
    if (!missing.empty()) {
      auto have = list_dir(PinLayout::maps_dir(owner.dir));
      return fail(Error{ENOENT, fmt::format("{}map_owner '{}' has no map named {} (its maps: {})", at, spec.map_owner,
                                            fmt::join(missing, ", "), fmt::join(have, ", "))});
    }
    if (!differ.empty())
      return fail(Error{EINVAL, fmt::format("{}map_owner '{}' defines maps otherwise: {}", at, spec.map_owner,
                                            fmt::join(differ, "; "))});
    return {};
  }

  // The bytes to load `spec` from: those load_desired() hashed into its digest, else (a spec
  // built without them) the kept ones, or the path's if they still have that digest.
  Result<Bytecode> bytecode_of(const ProgramSpec &spec) {
    if (spec.bytecode_bytes && !spec.bytecode_digest.empty())
      return Bytecode{spec.bytecode_digest, spec.bytecode_bytes, {}};
    return bytecode_.get(spec.bytecode_digest, spec.bytecode_path);
  }


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
    recent_log().clear();
    auto r = attach_xdp_component(obj->get(), component, a, map_ids, claimed, component_pin);
    if (!r && !recent_log().empty()) r.error().message += "; libxdp: " + recent_log().back();
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

void install_libbpf_logging() {
  libbpf_set_print(libbpf_print);
  libxdp_set_print(libxdp_print);
}

}  // namespace bpfrec
