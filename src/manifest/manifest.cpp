#include "manifest/manifest.h"
#include "manifest/interface_pattern.h"
#include "manifest/limits.h"
#include "util/library_name.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace bpfrec {

std::string Diagnostic::str() const {
  if (pos.line == 0) return fmt::format("{}: error: {}", path, message);
  return fmt::format("{}:{}:{}: error: {}", path, pos.line, pos.column, message);
}

std::string_view to_string(ProgramType t) {
  switch (t) {
    case ProgramType::Xdp: return "xdp";
    case ProgramType::Tc: return "tc";
    case ProgramType::Tracepoint: return "tracepoint";
    case ProgramType::Uprobe: return "uprobe";
    case ProgramType::Uretprobe: return "uretprobe";
    case ProgramType::Kprobe: return "kprobe";
    case ProgramType::Kretprobe: return "kretprobe";
    case ProgramType::Fentry: return "fentry";
    case ProgramType::Fexit: return "fexit";
    case ProgramType::CgroupSkb: return "cgroup_skb";
    case ProgramType::CgroupSock: return "cgroup_sock";
    case ProgramType::RawTracepoint: return "raw_tracepoint";
  }
  return "?";
}

const std::vector<ProgramType> &all_program_types() {
  static const std::vector<ProgramType> all{
      ProgramType::Xdp,       ProgramType::Tc,     ProgramType::Tracepoint, ProgramType::Uprobe,
      ProgramType::Uretprobe, ProgramType::Kprobe, ProgramType::Kretprobe,  ProgramType::Fentry,
      ProgramType::Fexit,     ProgramType::CgroupSkb, ProgramType::CgroupSock, ProgramType::RawTracepoint};
  return all;
}

std::string_view to_string(XdpMode m) {
  switch (m) {
    case XdpMode::Auto: return "auto";
    case XdpMode::Native: return "native";
    case XdpMode::Skb: return "skb";
    case XdpMode::Hw: return "hw";
  }
  return "?";
}

std::string_view to_string(TcDirection d) { return d == TcDirection::Ingress ? "ingress" : "egress"; }

std::optional<ProgramType> program_type_from_string(std::string_view s) {
  for (auto t : all_program_types())
    if (to_string(t) == s) return t;
  return std::nullopt;
}

bool is_network_type(ProgramType t) { return t == ProgramType::Xdp || t == ProgramType::Tc; }

bool target_fixed_at_load(ProgramType t) { return t == ProgramType::Fentry || t == ProgramType::Fexit; }

const std::vector<std::string> &cgroup_sock_attach_names() {
  static const std::vector<std::string> names{"sock_create", "sock_release", "post_bind4", "post_bind6"};
  return names;
}

const std::vector<std::string> &proceed_on_names(ProgramType t) {
  static const std::vector<std::string> xdp{"aborted", "drop", "pass", "tx", "redirect", "dispatcher_return"};
  static const std::vector<std::string> tc{"unspec", "ok",       "reclassify", "shot",
                                           "pipe",   "stolen",   "queued",     "repeat",
                                           "redirect", "trap",   "dispatcher_return"};
  static const std::vector<std::string> none;
  return t == ProgramType::Xdp ? xdp : t == ProgramType::Tc ? tc : none;
}

const std::vector<std::string> &proceed_on_defaults(ProgramType t) {
  static const std::vector<std::string> xdp{"pass", "dispatcher_return"};
  static const std::vector<std::string> tc{"pipe", "dispatcher_return"};
  static const std::vector<std::string> none;
  return t == ProgramType::Xdp ? xdp : t == ProgramType::Tc ? tc : none;
}

std::string AttachSpec::canonical(ProgramType t) const {
  // Plain appends, byte for byte what an ostringstream wrote before (the text is hashed into pin
  // names): a stream's construction was most of a no-op reconcile's cost of computing keys.
  std::string o;
  o.reserve(96);
  auto add = [&o](std::string_view v) { o.append(v.data(), v.size()); };
  add(to_string(t));
  o += '\n';
  switch (t) {
    case ProgramType::Xdp:
    case ProgramType::Tc: {
      add("if="), add(interface), add("\nnetns="), add(netns), add("\nprio="), add(std::to_string(priority)),
          add("\nproceed=");
      // proceed_on is a set: order in the file does not matter.
      std::set<std::string> s(proceed_on.begin(), proceed_on.end());
      for (auto &p : s) add(p), o += ',';
      if (t == ProgramType::Xdp) add("\nmode="), add(to_string(mode));
      else add("\ndir="), add(to_string(direction));
      break;
    }
    case ProgramType::Tracepoint: add("tp="), add(tracepoint); break;
    case ProgramType::Uprobe:
    case ProgramType::Uretprobe:
      add("target="), add(target), add("\nfn="), add(function), add("\noff="),
          add(offset ? std::to_string(*offset) : ""), add("\npid="), add(pid ? std::to_string(*pid) : "");
      break;
    case ProgramType::Kprobe:
    case ProgramType::Kretprobe:
      add("fn="), add(function), add("\noff="), add(offset ? std::to_string(*offset) : "");
      break;
    case ProgramType::Fentry:
    case ProgramType::Fexit: add("fn="), add(function); break;
    case ProgramType::CgroupSkb: add("cgroup="), add(cgroup), add("\ndir="), add(to_string(direction)); break;
    case ProgramType::CgroupSock: add("cgroup="), add(cgroup), add("\nattach="), add(attach_type); break;
    case ProgramType::RawTracepoint: add("raw_tp="), add(tracepoint); break;
  }
  return o;
}

std::string AttachSpec::target_label(ProgramType t) const {
  switch (t) {
    case ProgramType::Xdp:
    case ProgramType::Tc: {
      std::string s = interface;
      if (t == ProgramType::Tc) s += fmt::format(" {}", to_string(direction));
      if (!netns.empty()) s += fmt::format(" (netns {})", netns);
      return s;
    }
    case ProgramType::Tracepoint: return tracepoint;
    case ProgramType::Uprobe:
    case ProgramType::Uretprobe: {
      std::string s = target + ":" + (function.empty() ? "" : function);
      if (offset) s += fmt::format("+{:#x}", *offset);
      if (pid) s += fmt::format(" (pid {})", *pid);
      return s;
    }
    case ProgramType::Kprobe:
    case ProgramType::Kretprobe:
      return offset ? fmt::format("{}+{:#x}", function, *offset) : function;
    case ProgramType::Fentry:
    case ProgramType::Fexit: return function;
    case ProgramType::CgroupSkb: return fmt::format("{} {}", cgroup, to_string(direction));
    case ProgramType::CgroupSock: return fmt::format("{} {}", cgroup, attach_type);
    case ProgramType::RawTracepoint: return tracepoint;
  }
  return {};
}

bool valid_program_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto lower_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_digit(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return lower_digit(c) || c == '_' || c == '-'; });
}

std::string default_map_group(const std::string &manifest_path) {
  std::string stem = std::filesystem::path(manifest_path).filename().string();
  if (stem.ends_with(".toml")) stem.resize(stem.size() - 5);
  for (char &c : stem)
    if (c == '.' || c == '/' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) c = '_';
  // A return, not `stem = "_"`: g++ 12 warns falsely (-Wrestrict) on that assignment once inlined.
  if (stem.empty()) return std::string(1, '_');
  return stem;
}

namespace {

SourcePos pos_of(const toml::source_region &r) { return {r.begin.line, r.begin.column}; }

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// Walks one file's document and collects diagnostics; every check reports and carries on so
// that one run shows all the problems of a file.
class Reader {
 public:
  explicit Reader(const std::string &path) : path_(path) {}

  std::vector<Diagnostic> errors;

  void error(SourcePos p, std::string msg) { errors.push_back({path_, p, std::move(msg)}); }
  void error(const toml::node &n, std::string msg) { error(pos_of(n.source()), std::move(msg)); }

  // Typed accessors: report "key 'x' must be <type>, not <type>" and return nullopt on mismatch.
  std::optional<std::string> str(const toml::node &n, std::string_view key) {
    if (auto v = n.as_string()) return v->get();
    error(n, fmt::format("'{}' must be a string, not {}", key, type_name(n.type())));
    return std::nullopt;
  }

  std::optional<int64_t> integer(const toml::node &n, std::string_view key, int64_t lo, int64_t hi) {
    auto v = n.as_integer();
    if (!v) {
      error(n, fmt::format("'{}' must be an integer, not {}", key, type_name(n.type())));
      return std::nullopt;
    }
    if (v->get() < lo || v->get() > hi) {
      error(n, fmt::format("'{}' = {} is out of range {}..{}", key, v->get(), lo, hi));
      return std::nullopt;
    }
    return v->get();
  }

  const toml::table *table(const toml::node &n, std::string_view key) {
    if (auto t = n.as_table()) return t;
    error(n, fmt::format("'{}' must be a table, not {}", key, type_name(n.type())));
    return nullptr;
  }

  // Iterates a table, dispatching each key to `on_key`; keys not in `allowed` are errors that name
  // the allowed ones. `on_key` gets the key's position and the value node.
  void each_key(const toml::table &t, std::string_view where, const std::vector<std::string_view> &allowed,
                const std::function<void(std::string_view, SourcePos, const toml::node &)> &on_key) {
    for (auto &&[k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
        error(pos_of(k.source()), fmt::format("unknown key '{}' in {} (expected one of: {})", k.str(), where,
                                              fmt::join(allowed, ", ")));
        continue;
      }
      on_key(k.str(), pos_of(k.source()), v);
    }
  }

 private:
  const std::string &path_;
};

std::optional<std::vector<uint8_t>> parse_hex_bytes(std::string_view s) {
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || (s.size() % 2) != 0) return std::nullopt;
  std::vector<uint8_t> out;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 2; i < s.size(); i += 2) {
    int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

bool is_lower_hex(std::string_view s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Kernel symbols (kallsyms, BTF) and raw tracepoint names: [A-Za-z0-9_.], e.g. "do_sys_openat2",
// "tcp_v4_connect.cold"; nothing that could walk a tracefs path.
bool valid_kernel_symbol(std::string_view s) {
  return !s.empty() && s.size() < 256 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

// "/sys/fs/cgroup//app/" -> "/sys/fs/cgroup/app", so that spellings of one cgroup share a key.
std::string normalized_dir(const std::string &p) {
  std::string s = std::filesystem::path(p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

void parse_attach(Reader &r, const toml::table &t, ProgramType type, AttachSpec &a) {
  a.pos = pos_of(t.source());
  const bool kernel_probe = type == ProgramType::Kprobe || type == ProgramType::Kretprobe ||
                            type == ProgramType::Fentry || type == ProgramType::Fexit;
  std::vector<std::string_view> allowed;
  switch (type) {
    case ProgramType::Xdp: allowed = {"interface", "netns", "priority", "proceed_on", "mode"}; break;
    case ProgramType::Tc: allowed = {"interface", "netns", "priority", "proceed_on", "direction"}; break;
    case ProgramType::Tracepoint: allowed = {"tracepoint"}; break;
    case ProgramType::Uprobe:
    case ProgramType::Uretprobe: allowed = {"target", "function", "offset", "pid"}; break;
    case ProgramType::Kprobe: allowed = {"function", "offset"}; break;
    case ProgramType::Kretprobe:
    case ProgramType::Fentry:
    case ProgramType::Fexit: allowed = {"function"}; break;
    case ProgramType::CgroupSkb: allowed = {"cgroup", "direction"}; break;
    case ProgramType::CgroupSock: allowed = {"cgroup", "attach_type"}; break;
    case ProgramType::RawTracepoint: allowed = {"tracepoint"}; break;
  }
  allowed.push_back("metadata");  // every type: free strings shown with the attachment (bpfman's link metadata)
  const auto where = fmt::format("[[program.attach]] (type {})", to_string(type));
  r.each_key(t, where, allowed, [&](std::string_view key, SourcePos, const toml::node &v) {
    if (key == "metadata") {
      auto mt = r.table(v, key);
      if (!mt) return;
      for (auto &&[mk, mv] : *mt)
        if (auto s = r.str(mv, fmt::format("metadata.{}", mk.str()))) a.metadata[std::string(mk.str())] = *s;
    } else if (key == "interface") {
      // A name, an fnmatch(3) glob or "@primary" (interface_pattern.h).
      if (auto s = r.str(v, key)) {
        if (auto why = interface_value_error(*s)) r.error(v, *why);
        else a.interface = *s;
      }
    } else if (key == "netns") {
      if (auto s = r.str(v, key)) {
        if (s->empty() || (*s)[0] != '/') r.error(v, "'netns' must be an absolute path such as /run/netns/blue");
        else a.netns = *s;
      }
    } else if (key == "priority") {
      if (auto n = r.integer(v, key, 0, 1000)) a.priority = static_cast<uint32_t>(*n);  // bpfman: 0..1000
    } else if (key == "proceed_on") {
      auto arr = v.as_array();
      if (!arr) {
        r.error(v, fmt::format("'proceed_on' must be an array of strings, not {}", type_name(v.type())));
        return;
      }
      a.proceed_on_explicit = true;
      a.proceed_on.clear();
      const auto &names = proceed_on_names(type);
      for (auto &e : *arr) {
        auto s = r.str(e, "proceed_on");
        if (!s) continue;
        if (std::find(names.begin(), names.end(), *s) == names.end())
          r.error(e, fmt::format("unknown {} proceed_on action '{}' (expected one of: {})", to_string(type), *s,
                                 fmt::join(names, ", ")));
        else if (std::find(a.proceed_on.begin(), a.proceed_on.end(), *s) != a.proceed_on.end())
          r.error(e, fmt::format("proceed_on action '{}' is listed twice", *s));
        else a.proceed_on.push_back(*s);
      }
    } else if (key == "mode") {
      if (auto s = r.str(v, key)) {
        bool ok = false;
        for (auto m : {XdpMode::Auto, XdpMode::Native, XdpMode::Skb, XdpMode::Hw})
          if (to_string(m) == *s) a.mode = m, ok = true;
        if (!ok) r.error(v, fmt::format("'mode' = \"{}\" is not one of: auto, native, skb, hw", *s));
      }
    } else if (key == "direction") {
      if (auto s = r.str(v, key)) {
        if (*s == "ingress") a.direction = TcDirection::Ingress;
        else if (*s == "egress") a.direction = TcDirection::Egress;
        else r.error(v, fmt::format("'direction' = \"{}\" is not one of: ingress, egress", *s));
      }
    } else if (key == "tracepoint" && type == ProgramType::RawTracepoint) {
      if (auto s = r.str(v, key)) {
        if (!valid_kernel_symbol(*s))
          r.error(v, fmt::format("'tracepoint' = \"{}\" must be a raw tracepoint name such as \"sys_enter\" "
                                 "(letters, digits, '_', '.')", *s));
        else a.tracepoint = *s;
      }
    } else if (key == "tracepoint") {
      if (auto s = r.str(v, key)) {
        auto slash = s->find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == s->size() ||
            s->find('/', slash + 1) != std::string::npos)
          r.error(v, fmt::format("'tracepoint' = \"{}\" must be \"category/name\"", *s));
        else a.tracepoint = *s;
      }
    } else if (key == "target") {
      // An absolute path, or a library name resolved on the node when it is attached
      // (util/ld_cache.h at attach: the process's maps with `pid`, else /etc/ld.so.cache), as bpfman does.
      if (auto s = r.str(v, key)) {
        a.target_pos = pos_of(v.source());
        if (!s->empty() && (*s)[0] == '/') a.target = *s;
        else if (is_library_name(*s)) a.target = *s;
        else
          r.error(v, "'target' must be an absolute path of a binary or library, or a library name such as "
                     "\"libc\" (letters, digits, '.', '_', '+', '-'; no '/')");
      }
    } else if (key == "function") {
      if (auto s = r.str(v, key)) {
        if (s->empty()) r.error(v, "'function' must not be empty");
        else if (kernel_probe && !valid_kernel_symbol(*s))
          r.error(v, fmt::format("'function' = \"{}\" is not a kernel symbol name (letters, digits, '_', '.')", *s));
        else a.function = *s;
      }
    } else if (key == "cgroup") {
      if (auto s = r.str(v, key)) {
        if (s->empty() || (*s)[0] != '/')
          r.error(v, "'cgroup' must be the absolute path of a cgroup v2 directory, e.g. /sys/fs/cgroup/app.slice");
        else a.cgroup = normalized_dir(*s);
      }
    } else if (key == "attach_type") {
      if (auto s = r.str(v, key)) {
        const auto &names = cgroup_sock_attach_names();
        if (std::find(names.begin(), names.end(), *s) == names.end())
          r.error(v, fmt::format("'attach_type' = \"{}\" is not one of: {}", *s, fmt::join(names, ", ")));
        else a.attach_type = *s;
      }
    } else if (key == "offset") {
      if (auto n = r.integer(v, key, 0, INT64_MAX)) a.offset = static_cast<uint64_t>(*n);
    } else if (key == "pid") {
      if (auto n = r.integer(v, key, 1, INT32_MAX)) a.pid = static_cast<int32_t>(*n);
    }
  });
  if (!a.proceed_on_explicit) a.proceed_on = proceed_on_defaults(type);
  auto missing = [&](std::string_view key) {
    r.error(a.pos, fmt::format("[[program.attach]] (type {}) needs '{}'", to_string(type), key));
  };
  switch (type) {
    case ProgramType::Xdp:
      if (!t.contains("interface")) missing("interface");
      break;
    case ProgramType::Tc:
      if (!t.contains("interface")) missing("interface");
      if (!t.contains("direction")) missing("direction");
      break;
    case ProgramType::Tracepoint:
      if (!t.contains("tracepoint")) missing("tracepoint");
      break;
    case ProgramType::Uprobe:
    case ProgramType::Uretprobe:
      if (!t.contains("target")) missing("target");
      if (!t.contains("function") && !t.contains("offset")) missing("function' or 'offset");
      break;
    case ProgramType::Kprobe:
    case ProgramType::Kretprobe:
    case ProgramType::Fentry:
    case ProgramType::Fexit:
      if (!t.contains("function")) missing("function");
      break;
    case ProgramType::CgroupSkb:
      if (!t.contains("cgroup")) missing("cgroup");
      if (!t.contains("direction")) missing("direction");
      break;
    case ProgramType::CgroupSock:
      if (!t.contains("cgroup")) missing("cgroup");
      break;
    case ProgramType::RawTracepoint:
      if (!t.contains("tracepoint")) missing("tracepoint");
      break;
  }
}

void parse_program(Reader &r, const toml::table &t, const std::string &path, ProgramSpec &p) {
  p.manifest = path;
  p.pos = pos_of(t.source());
  p.map_group = default_map_group(path);
  // The type decides which attach keys apply, so read it first.
  std::optional<ProgramType> type;
  if (auto tn = t.get("type")) {
    p.type_pos = pos_of(tn->source());
    if (auto s = r.str(*tn, "type")) {
      type = program_type_from_string(*s);
      if (!type) {
        std::vector<std::string_view> names;
        for (auto k : all_program_types()) names.push_back(to_string(k));
        r.error(*tn, fmt::format("'type' = \"{}\" is not one of: {}", *s, fmt::join(names, ", ")));
      }
      else p.type = *type;
    }
  } else {
    r.error(p.pos, "[[program]] needs 'type'");
  }
  const toml::array *attach = nullptr;
  r.each_key(t, "[[program]]",
             {"name", "type", "bpf_function", "bytecode", "global_data", "metadata", "map_group", "map_owner", "attach"},
             [&](std::string_view key, SourcePos kpos, const toml::node &v) {
               if (key == "map_owner") {
                 p.map_owner_pos = pos_of(v.source());
                 if (auto s = r.str(v, key)) {
                   if (!valid_program_name(*s))
                     r.error(v, fmt::format("'map_owner' = \"{}\" is not a program name ([a-z0-9][a-z0-9_-]{{0,62}})", *s));
                   else p.map_owner = *s;
                 }
               } else if (key == "map_group") {
                 p.map_group_pos = pos_of(v.source());
                 if (auto s = r.str(v, key)) {
                   if (!valid_program_name(*s))
                     r.error(v, fmt::format("'map_group' = \"{}\" must match [a-z0-9][a-z0-9_-]{{0,62}}", *s));
                   else p.map_group = *s, p.map_group_explicit = true;
                 }
               } else if (key == "name") {
                 p.name_pos = pos_of(v.source());
                 if (auto s = r.str(v, key)) {
                   if (!valid_program_name(*s))
                     r.error(v, fmt::format("'name' = \"{}\" must match [a-z0-9][a-z0-9_-]{{0,62}}", *s));
                   else p.name = *s;
                 }
               } else if (key == "bpf_function") {
                 p.function_pos = pos_of(v.source());
                 if (auto s = r.str(v, key)) {
                   if (s->empty()) r.error(v, "'bpf_function' must not be empty");
                   else p.bpf_function = *s;
                 }
               } else if (key == "bytecode") {
                 p.bytecode_pos = pos_of(v.source());
                 auto bt = r.table(v, key);
                 if (!bt) return;
                 r.each_key(*bt, "bytecode", {"path", "sha256"}, [&](std::string_view bk, SourcePos, const toml::node &bv) {
                   auto s = r.str(bv, bk);
                   if (!s) return;
                   if (bk == "path") {
                     p.bytecode_pos = pos_of(bv.source());
                     if (s->empty()) {
                       r.error(bv, "'path' must not be empty");
                       return;
                     }
                     std::filesystem::path bp(*s);
                     if (bp.is_relative()) bp = std::filesystem::absolute(std::filesystem::path(path)).parent_path() / bp;
                     p.bytecode_path = bp.lexically_normal().string();
                   } else {
                     p.sha256_pos = pos_of(bv.source());
                     if (!is_lower_hex(*s, 64)) r.error(bv, "'sha256' must be 64 lower-case hex digits");
                     else p.bytecode_sha256 = *s;
                   }
                 });
                 if (!bt->contains("path")) r.error(v, "'bytecode' needs 'path'");
               } else if (key == "global_data") {
                 auto gt = r.table(v, key);
                 if (!gt) return;
                 for (auto &&[gk, gv] : *gt) {
                   GlobalValue g{std::string(gk.str()), int64_t{0}, pos_of(gv.source())};
                   if (auto i = gv.as_integer()) {
                     g.value = i->get();
                   } else if (auto s = gv.as_string()) {
                     auto bytes = parse_hex_bytes(s->get());
                     if (!bytes) {
                       r.error(gv, fmt::format("global_data '{}' = \"{}\" must be an integer or \"0x\" followed by "
                                               "an even number of hex digits", gk.str(), s->get()));
                       continue;
                     }
                     g.value = std::move(*bytes);
                   } else {
                     r.error(gv, fmt::format("global_data '{}' must be an integer or a \"0x..\" string, not {}",
                                             gk.str(), type_name(gv.type())));
                     continue;
                   }
                   p.global_data.push_back(std::move(g));
                 }
                 // toml::table iterates in key order; the spec promises file order.
                 std::stable_sort(p.global_data.begin(), p.global_data.end(), [](auto &x, auto &y) {
                   return std::tie(x.pos.line, x.pos.column) < std::tie(y.pos.line, y.pos.column);
                 });
               } else if (key == "metadata") {
                 auto mt = r.table(v, key);
                 if (!mt) return;
                 if (mt->size() > kMaxMetadataEntries)
                   r.error(v, fmt::format("'metadata' has {} entries, more than the limit of {}", mt->size(),
                                          kMaxMetadataEntries));
                 for (auto &&[mk, mv] : *mt) {
                   if (mk.str().size() > kMaxMetadataKeyBytes) {
                     r.error(pos_of(mk.source()), fmt::format("metadata key is {} bytes, more than the limit of {}",
                                                              mk.str().size(), kMaxMetadataKeyBytes));
                     continue;
                   }
                   auto s = r.str(mv, fmt::format("metadata.{}", mk.str()));
                   if (!s) continue;
                   if (s->size() > kMaxMetadataValueBytes)
                     r.error(mv, fmt::format("metadata.{} is {} bytes, more than the limit of {}", mk.str(), s->size(),
                                             kMaxMetadataValueBytes));
                   else p.metadata[std::string(mk.str())] = *s;
                 }
               } else if (key == "attach") {
                 attach = v.as_array();
                 if (!attach || !attach->is_array_of_tables()) {
                   r.error(kpos, "'attach' must be an array of tables ([[program.attach]])");
                   attach = nullptr;
                 }
               }
             });
  if (!t.contains("name")) r.error(p.pos, "[[program]] needs 'name'");
  // A program with a map owner has no maps of its own: its .rodata/.data and shared maps are
  // the owner's too, so neither global_data nor a map group could apply.
  if (!p.map_owner.empty()) {
    if (p.map_owner == p.name)
      r.error(p.map_owner_pos, fmt::format("'map_owner' = \"{}\" names this program itself", p.map_owner));
    if (t.contains("map_group"))
      r.error(p.map_group_pos, "'map_group' does not apply with 'map_owner': every map is the owner's");
    if (t.contains("global_data"))
      r.error(pos_of(t.get("global_data")->source()),
              "'global_data' does not apply with 'map_owner': .rodata and .data are the owner's maps");
  }
  if (!t.contains("bpf_function")) r.error(p.pos, "[[program]] needs 'bpf_function'");
  if (!t.contains("bytecode")) r.error(p.pos, "[[program]] needs 'bytecode'");
  // No [[program.attach]]: a load-only program (bpfman loads without attaching): loaded and
  // pinned, its maps there for tools and map owners. fentry/fexit cannot be: their function is
  // bound at load.
  if (type && target_fixed_at_load(*type) && (!attach || attach->empty()))
    r.error(p.pos, fmt::format("type {} takes exactly one [[program.attach]]: its function is bound when the program "
                               "is loaded", to_string(*type)));
  if (attach && attach->size() > kMaxAttachPerProgram)
    r.error(pos_of((*attach)[kMaxAttachPerProgram].source()),
            fmt::format("more than {} [[program.attach]] tables in one program", kMaxAttachPerProgram));
  if (attach && type) {
    std::map<std::string, SourcePos> seen;
    for (auto &n : *attach) {
      AttachSpec a;
      parse_attach(r, *n.as_table(), *type, a);
      auto [it, fresh] = seen.emplace(a.canonical(*type), a.pos);
      if (!fresh)
        r.error(a.pos, fmt::format("this attach point repeats the one at line {}", it->second.line));
      else if (target_fixed_at_load(*type) && seen.size() > 1)
        r.error(a.pos, fmt::format("type {} takes exactly one [[program.attach]]: its function is fixed when the "
                                   "program is loaded (declare another [[program]] for another function)",
                                   to_string(*type)));
      p.attach.push_back(std::move(a));
    }
  }
}

}  // namespace

ParsedManifest parse_manifest(std::string_view text, const std::string &path) {
  ParsedManifest out;
  // Bounded before toml++ sees the text: it recurses once per nesting level (limits.h).
  if (text.size() > kMaxManifestBytes) {
    out.errors.push_back({path, {1, 1}, fmt::format("the manifest is {} bytes, more than the limit of {} bytes (1 MiB)",
                                                   text.size(), kMaxManifestBytes)});
    return out;
  }
  if (auto e = scan_toml_shape(text)) {
    out.errors.push_back({path, e->pos, e->message});
    return out;
  }
  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error &e) {
    out.errors.push_back({path, pos_of(e.source()), std::string(e.description())});
    return out;
  }
  Reader r(path);
  const toml::array *programs = nullptr;
  r.each_key(doc, "the manifest", {"program"}, [&](std::string_view, SourcePos kpos, const toml::node &v) {
    programs = v.as_array();
    if (!programs || !programs->is_array_of_tables()) {
      r.error(kpos, "'program' must be an array of tables ([[program]])");
      programs = nullptr;
    }
  });
  if (programs) {
    std::map<std::string, SourcePos> names;
    if (programs->size() > kMaxProgramsPerManifest)
      r.error(pos_of((*programs)[kMaxProgramsPerManifest].source()),
              fmt::format("more than {} [[program]] tables in one manifest", kMaxProgramsPerManifest));
    for (auto &n : *programs) {
      ProgramSpec p;
      parse_program(r, *n.as_table(), path, p);
      if (!p.name.empty()) {
        auto [it, fresh] = names.emplace(p.name, p.name_pos);
        if (!fresh)
          r.error(p.name_pos, fmt::format("duplicate program name '{}' (first declared at line {})", p.name,
                                          it->second.line));
      }
      out.programs.push_back(std::move(p));
    }
  } else if (r.errors.empty()) {
    r.error(SourcePos{1, 1}, "the manifest declares no [[program]]");
  }
  out.errors = std::move(r.errors);
  std::stable_sort(out.errors.begin(), out.errors.end(), [](const Diagnostic &a, const Diagnostic &b) {
    return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
  });
  cap_diagnostics(out.errors, path);
  if (!out.errors.empty()) out.programs.clear();
  return out;
}

}  // namespace bpfrec
