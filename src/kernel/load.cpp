// Loading one program: open its object with only its function autoloaded, apply global_data,
// share or reuse maps (map groups, map_owner), load, pin the program and every map, write the
// record. What LibbpfKernel::load() runs (kernel/libbpf_kernel.cpp).
#include "kernel/load.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "kernel/attach.h"
#include "kernel/attach_tracing.h"
#include "kernel/libbpf_log.h"
#include "kernel/pinned_object.h"
#include "manifest/object_info.h"
#include "manifest/validate.h"
#include "reconcile/identity.h"
#include "reconcile/shared_maps.h"
#include "types/type.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

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

// map_owner (bpfman's map_owner_id): every map of `obj` reuses the owner's map of the same
// name, pinned at <pin-root>/<owner>/maps/<map>; `owner` gets the owner's record (its shared
// maps). Errors, positioned at map_owner: the owner is not loaded, maps it lacks (all named),
// a map defined otherwise (type, key or value size, max_entries).
Result<void> reuse_owner_maps(bpf_object *obj, const ProgramSpec &spec, const LoadContext &ctx, ObservedProgram &owner) {
  const std::string at = fmt::format("{}:{}:{}: error: ", spec.manifest, spec.map_owner_pos.line,
                                     spec.map_owner_pos.column);
  owner.name = spec.map_owner;
  owner.dir = ctx.pins.dir(spec.map_owner);
  UniqueFd owner_prog(bpf_obj_get(PinLayout::prog(owner.dir).c_str()));
  if (!owner_prog.valid())
    return fail(Error{ENOENT, fmt::format("{}map_owner '{}' is not loaded (no program pinned at {})", at,
                                          spec.map_owner, PinLayout::prog(owner.dir))});
  (void)ctx.records.read(owner);  // its shared maps; none when unreadable
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
Result<Bytecode> bytecode_of(const ProgramSpec &spec, BytecodeStore &store) {
  if (spec.bytecode_bytes && !spec.bytecode_digest.empty())
    return Bytecode{spec.bytecode_digest, spec.bytecode_bytes, {}};
  return store.get(spec.bytecode_digest, spec.bytecode_path);
}

}  // namespace

Result<ObservedProgram> load_program(const ProgramSpec &spec, const std::string &dir, const LoadContext &ctx) {
  // Probed once per process: a type this kernel lacks fails here with the reason, before any pin.
  if (auto r = probe_program_type(spec.type); !r)
    return fail(r.error()
                    .with_message(fmt::format("{} programs are not available on this kernel: {}",
                                              to_string(spec.type), r.error().message))
                    .with_kind(ErrorKind::Unsupported));
  // A leftover directory (e.g. of a load that was interrupted) would make the pins fail. The
  // usual case, a new program, is three mkdir(2)s; anything else (the directory is there, a
  // parent is missing) goes the long way: remove the tree, make every level.
  const bool fresh = ::mkdir(dir.c_str(), 0777) == 0 && ::mkdir(PinLayout::maps_dir(dir).c_str(), 0777) == 0 &&
                     ::mkdir(PinLayout::links_dir(dir).c_str(), 0777) == 0;
  if (!fresh) {
    if (auto r = remove_tree(dir); !r) return std::unexpected(r.error());
    if (auto r = make_dirs(PinLayout::maps_dir(dir)); !r) return std::unexpected(r.error());
    if (auto r = make_dirs(PinLayout::links_dir(dir)); !r) return std::unexpected(r.error());
  }
  auto code = bytecode_of(spec, ctx.bytecode);
  if (!code) return std::unexpected(code.error());
  const std::string group_dir = ctx.pins.group_dir(spec.map_group);
  auto opened = open_object(spec, *code, group_dir);
  if (!opened) return std::unexpected(opened.error());
  auto &[held, obj, prog] = *opened;
  (void)held;
  ObservedProgram owner;  // map_owner: the record of the program whose maps are reused
  if (!spec.map_owner.empty()) {
    if (auto r = reuse_owner_maps(obj.get(), spec, ctx, owner); !r) return std::unexpected(r.error());
  } else if (auto r = check_shared_maps(obj.get(), spec); !r) {
    return std::unexpected(r.error());
  }
  bool shares = false;
  bpf_map *sm;
  bpf_object__for_each_map(sm, obj.get()) shares |= bpf_map__pin_path(sm) != nullptr;
  // libbpf pins a group's first map there itself (mkdir of the last level only).
  if (shares)
    if (auto r = make_dirs(group_dir); !r) return std::unexpected(r.error());
  recent_libbpf_log().clear();
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
    for (auto &l : recent_libbpf_log()) log += (log.empty() ? "" : " | ") + l;
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
  // The bytes go to the store before the record that names their digest: a crash between the
  // two leaves an object no record needs (collected later), never a record without its bytes.
  // A store that cannot be written (full, read-only) is logged; the bytes stay in memory.
  if (auto r = ctx.bytecode.put(*code); !r)
    spdlog::warn("{}: keeping bytecode {} in the state directory failed: {}", spec.name, code->digest, r.error().message);
  if (auto r = ctx.write(out); !r) return std::unexpected(r.error());
  return out;
}

}  // namespace bpfrec
