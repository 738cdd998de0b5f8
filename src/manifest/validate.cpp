#include "manifest/validate.h"

#include <linux/bpf.h>

#include <algorithm>

#include <fmt/format.h>

namespace bpfrec {

uint32_t required_prog_type(ProgramType t) {
  switch (t) {
    case ProgramType::Xdp: return BPF_PROG_TYPE_XDP;
    case ProgramType::Tc: return BPF_PROG_TYPE_SCHED_CLS;
    case ProgramType::Tracepoint: return BPF_PROG_TYPE_TRACEPOINT;
    case ProgramType::Uprobe:
    case ProgramType::Uretprobe:
    case ProgramType::Kprobe:
    case ProgramType::Kretprobe: return BPF_PROG_TYPE_KPROBE;
    case ProgramType::Fentry:
    case ProgramType::Fexit: return BPF_PROG_TYPE_TRACING;
    case ProgramType::CgroupSkb: return BPF_PROG_TYPE_CGROUP_SKB;
    case ProgramType::CgroupSock: return BPF_PROG_TYPE_CGROUP_SOCK;
    case ProgramType::RawTracepoint: return BPF_PROG_TYPE_RAW_TRACEPOINT;
  }
  return BPF_PROG_TYPE_UNSPEC;
}

std::vector<std::string> required_sections(ProgramType t) {
  switch (t) {
    case ProgramType::Kprobe: return {"kprobe", "kprobe/*"};
    case ProgramType::Kretprobe: return {"kretprobe", "kretprobe/*"};
    case ProgramType::Fentry: return {"fentry", "fentry/*", "fentry.s/*"};
    case ProgramType::Fexit: return {"fexit", "fexit/*", "fexit.s/*"};
    case ProgramType::CgroupSkb: return {"cgroup_skb/ingress", "cgroup_skb/egress", "cgroup/skb"};
    case ProgramType::CgroupSock:
      return {"cgroup/sock", "cgroup/sock_create", "cgroup/sock_release", "cgroup/post_bind4", "cgroup/post_bind6"};
    case ProgramType::RawTracepoint: return {"raw_tracepoint", "raw_tracepoint/*", "raw_tp", "raw_tp/*"};
    default: return {};
  }
}

std::optional<std::string> section_attach_constraint(ProgramType t, std::string_view section) {
  if (t == ProgramType::CgroupSkb) {
    if (section == "cgroup_skb/ingress") return "ingress";
    if (section == "cgroup_skb/egress") return "egress";
  } else if (t == ProgramType::CgroupSock && section.starts_with("cgroup/")) {
    auto what = section.substr(7);
    return std::string(what == "sock" ? "sock_create" : what);
  }
  return std::nullopt;
}

namespace {

bool section_matches(std::string_view section, std::string_view pattern) {
  if (pattern.ends_with("/*")) {
    pattern.remove_suffix(1);
    return section.size() > pattern.size() && section.starts_with(pattern);
  }
  return section == pattern;
}

}  // namespace

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
  } else if (it->prog_type != required_prog_type(p.type)) {
    err(p.function_pos, fmt::format("bpf_function '{}' is in section \"{}\" (a {} program), which does not match "
                                    "type = \"{}\" (needs {})",
                                    p.bpf_function, it->section, prog_type_name(it->prog_type), to_string(p.type),
                                    prog_type_name(required_prog_type(p.type))));
  } else if (auto want = required_sections(p.type); !want.empty()) {
    if (std::none_of(want.begin(), want.end(), [&](auto &w) { return section_matches(it->section, w); })) {
      err(p.function_pos, fmt::format("bpf_function '{}' is in section \"{}\", which does not match type = \"{}\" "
                                      "(needs a section {})",
                                      p.bpf_function, it->section, to_string(p.type), fmt::join(want, " or ")));
    } else if (auto fixed = section_attach_constraint(p.type, it->section)) {
      // The section sets the program's expected_attach_type at load; the kernel refuses any
      // other attach type at attach time (EINVAL), so say so now.
      for (auto &a : p.attach) {
        const std::string have = p.type == ProgramType::CgroupSkb ? std::string(to_string(a.direction)) : a.attach_type;
        if (have != *fixed)
          err(a.pos, fmt::format("bpf_function '{}' is in section \"{}\", which attaches only as {}, not {} = \"{}\"",
                                 p.bpf_function, it->section, *fixed,
                                 p.type == ProgramType::CgroupSkb ? "direction" : "attach_type", have));
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
