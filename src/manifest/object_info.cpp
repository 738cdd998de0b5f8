#include "manifest/object_info.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <memory>

namespace bpfrec {
namespace {

// Skips typedefs and cv-qualifiers to reach the underlying type.
const btf_type *resolve(const btf *b, uint32_t id) {
  const btf_type *t = btf__type_by_id(b, id);
  while (t && (btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t) || btf_is_restrict(t)))
    t = btf__type_by_id(b, t->type);
  return t;
}

}  // namespace

std::string prog_type_name(uint32_t prog_type) {
  const char *s = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(prog_type));
  return s ? s : fmt::format("type {}", prog_type);
}

Result<ObjectInfo> inspect_object(const Bytecode &code, const std::string &path) {
  BpfObjectPtr obj(open_bytecode(code, path, nullptr));  // closed before `code` goes
  if (!obj) {
    // libbpf's own codes (LIBBPF_ERRNO__FORMAT = 4001...) need libbpf_strerror, not strerror.
    const int err = errno;
    char buf[256] = {};
    libbpf_strerror(err, buf, sizeof buf);
    return fail(Error{err, fmt::format("open BPF object {}: {}", path, buf)});
  }
  ObjectInfo info;
  bpf_program *prog;  // borrowed from obj
  bpf_object__for_each_program(prog, obj.get()) {
    info.programs.push_back({bpf_program__name(prog), bpf_program__section_name(prog),
                             static_cast<uint32_t>(bpf_program__type(prog))});
  }
  bpf_map *map;  // borrowed from obj
  bpf_object__for_each_map(map, obj.get()) info.maps.emplace_back(bpf_map__name(map));
  if (const btf *b = bpf_object__btf(obj.get())) {
    for (const char *sec : {".rodata", ".data"}) {
      int id = btf__find_by_name_kind(b, sec, BTF_KIND_DATASEC);
      if (id < 0) continue;
      const btf_type *ds = btf__type_by_id(b, id);
      const btf_var_secinfo *vs = btf_var_secinfos(ds);
      for (unsigned i = 0; i < btf_vlen(ds); ++i, ++vs) {
        const btf_type *var = btf__type_by_id(b, vs->type);
        if (!var || !btf_is_var(var)) continue;
        ObjectGlobal g{btf__name_by_offset(b, var->name_off), sec, vs->size, false, false};
        if (const btf_type *t = resolve(b, var->type); t && btf_is_int(t)) {
          g.is_int = true;
          g.is_signed = (btf_int_encoding(t) & BTF_INT_SIGNED) != 0;
        }
        info.globals.push_back(std::move(g));
      }
    }
  }
  return info;
}

}  // namespace bpfrec
