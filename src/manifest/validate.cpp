#include "manifest/validate.h"
#include "types/type.h"

#include <linux/bpf.h>

#include <algorithm>

#include <fmt/format.h>

namespace bpfrec {

uint32_t required_prog_type(ProgramType t) { return descriptor(t).prog_type; }

namespace {

// "xdp, xdp/*, xdp.frags, xdp.frags/*" for the family of `t`, for messages.
std::string sections_naming(ProgramType t) {
  const TypeDescriptor &d = descriptor(t);
  if (!d.sections_help.empty()) return std::string(d.sections_help);
  std::vector<std::string> out;
  for (auto s : d.sections) out.push_back(fmt::format("{0}, {0}/*", s));
  return fmt::format("{}", fmt::join(out, ", "));
}

std::string family_label(const std::vector<ProgramType> &types) {
  std::vector<std::string_view> names;
  for (auto t : types) names.push_back(to_string(t));
  return fmt::format("{}", fmt::join(names, " or "));
}

}  // namespace

std::optional<std::vector<ProgramType>> section_types(std::string_view section) {
  std::vector<ProgramType> out;
  for (const auto *d : all_descriptors())
    if (claims_section(*d, section)) out.push_back(d->type);
  if (out.empty()) return std::nullopt;
  return out;
}

SectionFit section_fit(std::string_view section, uint32_t libbpf_type, ProgramType declared) {
  SectionFit fit;
  const uint32_t want = required_prog_type(declared);
  const auto types = section_types(section);
  auto refuse = [&](const std::string &what) {
    fit.error = fmt::format("({}), which does not match type = \"{}\" (needs a section {}, or one that names no "
                            "program type)",
                            what, to_string(declared), sections_naming(declared));
    return fit;
  };
  if (types) {
    if (std::find(types->begin(), types->end(), declared) == types->end())
      return refuse(fmt::format("a {} program", family_label(*types)));
    if (libbpf_type != BPF_PROG_TYPE_UNSPEC && libbpf_type != want)
      return refuse(fmt::format("libbpf loads it as a {} program", prog_type_name(libbpf_type)));
  } else if (libbpf_type != BPF_PROG_TYPE_UNSPEC) {
    // e.g. "socket", "tp_btf/x", "kprobe.multi/x": libbpf fixes a type or attach type that no
    // manifest type attaches.
    return refuse(fmt::format("a {} program of a kind no manifest type takes", prog_type_name(libbpf_type)));
  }
  if (libbpf_type == BPF_PROG_TYPE_UNSPEC) {
    // libbpf 1.1.2 names no type for it ("classifier/x", "xdp/x", "my_prog"): the manifest's
    // type decides, as bpfman's load type does.
    fit.set_type = true;
    fit.expected_attach_type = descriptor(declared).expected_attach_type;
  }
  return fit;
}

std::optional<std::string> section_attach_constraint(ProgramType t, std::string_view section) {
  const TypeDescriptor &d = descriptor(t);
  if (!d.section_constraint) return std::nullopt;
  return d.section_constraint(section);
}

bool encode_integer(int64_t value, uint32_t size, bool is_signed, std::vector<uint8_t> &out) {
  if (size == 0 || size > 8) return false;
  if (size < 8) {
    const int bits = static_cast<int>(size * 8);
    if (is_signed) {
      const int64_t lo = -(int64_t{1} << (bits - 1)), hi = (int64_t{1} << (bits - 1)) - 1;
      if (value < lo || value > hi) return false;
    } else if (value < 0 || static_cast<uint64_t>(value) >= (uint64_t{1} << bits)) {
      return false;
    }
  } else if (!is_signed && value < 0) {
    return false;
  }
  out.resize(size);
  auto u = static_cast<uint64_t>(value);
  for (uint32_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(u >> (8 * i));
  return true;
}

std::vector<Diagnostic> validate_against_object(const ProgramSpec &p, const ObjectInfo &obj) {
  std::vector<Diagnostic> errs;
  auto err = [&](SourcePos pos, std::string msg) { errs.push_back({p.manifest, pos, std::move(msg)}); };

  auto it = std::find_if(obj.programs.begin(), obj.programs.end(),
                         [&](const ObjectProgram &op) { return op.function == p.bpf_function; });
  if (it == obj.programs.end()) {
    std::vector<std::string> have;
    for (auto &op : obj.programs) have.push_back(op.function);
    err(p.function_pos, fmt::format("bpf_function '{}' is not in {} (it has: {})", p.bpf_function, p.bytecode_path,
                                    have.empty() ? std::string("no programs") : fmt::format("{}", fmt::join(have, ", "))));
  } else if (auto fit = section_fit(it->section, it->prog_type, p.type); !fit.error.empty()) {
    err(p.function_pos, fmt::format("bpf_function '{}' is in section \"{}\" {}", p.bpf_function, it->section, fit.error));
  } else {
    if (auto fixed = section_attach_constraint(p.type, it->section)) {
      // The section sets the program's expected_attach_type at load; the kernel refuses any
      // other attach type at attach time (EINVAL), so say so now.
      const TypeDescriptor &d = descriptor(p.type);
      for (auto &a : p.attach) {
        const std::string have = d.constrained_value(a);
        if (have != *fixed)
          err(a.pos, fmt::format("bpf_function '{}' is in section \"{}\", which attaches only as {}, not {} = \"{}\"",
                                 p.bpf_function, it->section, *fixed, d.constrained_key, have));
      }
    }
  }

  for (auto &g : p.global_data) {
    auto og = std::find_if(obj.globals.begin(), obj.globals.end(), [&](const ObjectGlobal &x) { return x.name == g.name; });
    if (og == obj.globals.end()) {
      err(g.pos, fmt::format("global_data '{}' is not a .rodata or .data variable of {}", g.name, p.bytecode_path));
      continue;
    }
    if (auto *i = std::get_if<int64_t>(&g.value)) {
      std::vector<uint8_t> tmp;
      if (!og->is_int)
        err(g.pos, fmt::format("global_data '{}' is not an integer variable ({} bytes): give \"0x..\" bytes", g.name,
                               og->size));
      else if (!encode_integer(*i, og->size, og->is_signed, tmp))
        err(g.pos, fmt::format("global_data '{}' = {} does not fit its type ({} {}-bit)", g.name, *i,
                               og->is_signed ? "signed" : "unsigned", og->size * 8));
    } else {
      auto &bytes = std::get<std::vector<uint8_t>>(g.value);
      if (bytes.size() != og->size)
        err(g.pos, fmt::format("global_data '{}' has {} bytes, the variable has {}", g.name, bytes.size(), og->size));
    }
  }
  return errs;
}

}  // namespace bpfrec
