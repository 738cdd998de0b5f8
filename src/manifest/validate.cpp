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

namespace {

struct SectionFamily {
  std::vector<std::string_view> heads;  // first '/'-components that name it
  std::vector<ProgramType> types;
};

// The families of section_types(); cgroup/<what> is handled apart (its second component decides).
const std::vector<SectionFamily> &section_families() {
  using T = ProgramType;
  static const std::vector<SectionFamily> f = {
      {{"xdp", "xdp.frags"}, {T::Xdp}},
      {{"tc", "classifier", "tcx"}, {T::Tc}},
      {{"tracepoint", "tp"}, {T::Tracepoint}},
      {{"kprobe", "kretprobe", "ksyscall", "kretsyscall"}, {T::Kprobe, T::Kretprobe}},
      {{"uprobe", "uretprobe", "uprobe.s", "uretprobe.s"}, {T::Uprobe, T::Uretprobe}},
      {{"fentry", "fentry.s"}, {T::Fentry}},
      {{"fexit", "fexit.s"}, {T::Fexit}},
      {{"raw_tracepoint", "raw_tp"}, {T::RawTracepoint}},
      {{"cgroup_skb"}, {T::CgroupSkb}},
  };
  return f;
}

const std::vector<std::string_view> &cgroup_sock_sections() {
  static const std::vector<std::string_view> s{"sock", "sock_create", "sock_release", "post_bind4", "post_bind6"};
  return s;
}

// "xdp, xdp/*, xdp.frags, xdp.frags/*" for the family of `t`, for messages.
std::string sections_naming(ProgramType t) {
  std::vector<std::string> out;
  if (t == ProgramType::CgroupSkb) out = {"cgroup_skb/*", "cgroup/skb"};
  if (t == ProgramType::CgroupSock)
    for (auto s : cgroup_sock_sections()) out.push_back(fmt::format("cgroup/{}", s));
  for (auto &f : section_families())
    if (t != ProgramType::CgroupSkb && std::find(f.types.begin(), f.types.end(), t) != f.types.end())
      for (auto h : f.heads) out.push_back(fmt::format("{0}, {0}/*", h));
  return fmt::format("{}", fmt::join(out, ", "));
}

std::string family_label(const std::vector<ProgramType> &types) {
  std::vector<std::string_view> names;
  for (auto t : types) names.push_back(to_string(t));
  return fmt::format("{}", fmt::join(names, " or "));
}

}  // namespace

std::optional<std::vector<ProgramType>> section_types(std::string_view section) {
  if (section.starts_with('?')) section.remove_prefix(1);
  const auto slash = section.find('/');
  const std::string_view head = section.substr(0, slash);
  const std::string_view rest = slash == std::string_view::npos ? std::string_view() : section.substr(slash + 1);
  if (head == "cgroup") {
    const std::string_view what = rest.substr(0, rest.find('/'));
    if (what == "skb") return std::vector{ProgramType::CgroupSkb};
    const auto &sock = cgroup_sock_sections();
    if (std::find(sock.begin(), sock.end(), what) != sock.end()) return std::vector{ProgramType::CgroupSock};
    return std::nullopt;
  }
  // XDP programs for devmap/cpumap entries, not for an interface (libbpf: BPF_XDP_DEVMAP/CPUMAP).
  if ((head == "xdp" || head == "xdp.frags") && (rest == "devmap" || rest == "cpumap")) return std::nullopt;
  for (auto &f : section_families())
    if (std::find(f.heads.begin(), f.heads.end(), head) != f.heads.end()) return f.types;
  return std::nullopt;
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
    if (declared == ProgramType::Fentry) fit.expected_attach_type = BPF_TRACE_FENTRY;
    if (declared == ProgramType::Fexit) fit.expected_attach_type = BPF_TRACE_FEXIT;
  }
  return fit;
}

std::optional<std::string> section_attach_constraint(ProgramType t, std::string_view section) {
  if (t == ProgramType::CgroupSkb) {
    if (section == "cgroup_skb/ingress") return "ingress";
    if (section == "cgroup_skb/egress") return "egress";
  } else if (t == ProgramType::CgroupSock) {
    if (!section.starts_with("cgroup/")) return std::string("sock_create");
    auto what = section.substr(7);
    return std::string(what == "sock" ? "sock_create" : what);
  }
  return std::nullopt;
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
