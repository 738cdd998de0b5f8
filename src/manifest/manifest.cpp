#include "manifest/manifest.h"
#include "manifest/limits.h"
#include "manifest/toml_reader.h"
#include "image/reference.h"
#include "types/type.h"
#include "util/sha256.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace bpfrec {

std::string Diagnostic::str() const {
  if (pos.line == 0) return fmt::format("{}: error: {}", path, message);
  return fmt::format("{}:{}:{}: error: {}", path, pos.line, pos.column, message);
}

std::string_view to_string(ProgramType t) { return descriptor(t).name; }

const std::vector<ProgramType> &all_program_types() {
  static const std::vector<ProgramType> all = [] {
    std::vector<ProgramType> v;
    for (const auto *d : all_descriptors()) v.push_back(d->type);
    return v;
  }();
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

std::string_view to_string(PullPolicy p) {
  switch (p) {
    case PullPolicy::Always: return "Always";
    case PullPolicy::IfNotPresent: return "IfNotPresent";
    case PullPolicy::Never: return "Never";
  }
  return "?";
}

std::optional<PullPolicy> pull_policy_from_string(std::string_view s) {
  for (auto p : {PullPolicy::Always, PullPolicy::IfNotPresent, PullPolicy::Never})
    if (s == to_string(p)) return p;
  return std::nullopt;
}

std::string_view to_string(TcDirection d) { return d == TcDirection::Ingress ? "ingress" : "egress"; }

std::optional<ProgramType> program_type_from_string(std::string_view s) {
  if (const auto *d = find_descriptor(s)) return d->type;
  return std::nullopt;
}

bool is_network_type(ProgramType t) { return descriptor(t).network; }

bool target_fixed_at_load(ProgramType t) { return descriptor(t).target_fixed_at_load; }

const std::vector<std::string> &proceed_on_names(ProgramType t) { return descriptor(t).proceed_on_names; }

const std::vector<std::string> &proceed_on_defaults(ProgramType t) { return descriptor(t).proceed_on_defaults; }

std::string AttachSpec::canonical(ProgramType t) const {
  // Plain appends, byte for byte what an ostringstream wrote before (the text is hashed into pin
  // names): a stream's construction was most of a no-op reconcile's cost of computing keys.
  const TypeDescriptor &d = descriptor(t);
  std::string o;
  o.reserve(96);
  o.append(d.name.data(), d.name.size());
  o += '\n';
  d.canonical(*this, o);
  return o;
}

std::string AttachSpec::target_label(ProgramType t) const { return descriptor(t).label(*this); }

AttachSpec AttachSpec::of(ProgramType t) {
  AttachSpec a;
  a.params = descriptor(t).make_params();
  return a;
}

const NetIfAttach *AttachSpec::netif() const {
  if (const auto *x = get_if<XdpAttach>()) return x;
  if (const auto *c = get_if<TcAttach>()) return c;
  return nullptr;
}

NetIfAttach *AttachSpec::netif() { return const_cast<NetIfAttach *>(std::as_const(*this).netif()); }

const NetIfAttach &AttachSpec::netif_or_none() const {
  static const NetIfAttach kNone;
  const NetIfAttach *n = netif();
  return n ? *n : kNone;
}

const std::string &AttachSpec::netns() const {
  static const std::string kNone;
  if (const auto *n = netif()) return n->netns;
  if (const auto *s = get_if<NetnsAttach>()) return s->netns;
  if (const auto *f = get_if<NetfilterAttach>()) return f->netns;
  return kNone;
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

using Reader = TomlReader;

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

void parse_attach(Reader &r, const toml::table &t, ProgramType type, AttachSpec &a) {
  a.pos = pos_of(t.source());
  const TypeDescriptor &d = descriptor(type);
  a.params = d.make_params();
  std::vector<std::string_view> allowed;
  for (const auto &k : d.keys) allowed.push_back(k.name);
  allowed.push_back("metadata");  // every type: free strings shown with the attachment (bpfman's link metadata)
  const auto where = fmt::format("[[program.attach]] (type {})", d.name);
  r.each_key(t, where, allowed, [&](std::string_view key, SourcePos, const toml::node &v) {
    if (key == "metadata") {
      auto mt = r.table(v, key);
      if (!mt) return;
      for (auto &&[mk, mv] : *mt)
        if (auto s = r.str(mv, fmt::format("metadata.{}", mk.str()))) a.metadata[std::string(mk.str())] = *s;
      return;
    }
    for (const auto &k : d.keys)
      if (k.name == key) k.parse(r, v, a);
  });
  if (auto *n = a.netif(); n && !n->proceed_on_explicit) n->proceed_on = d.proceed_on_defaults;
  for (const auto &alternatives : d.required) {
    if (std::any_of(alternatives.begin(), alternatives.end(), [&](std::string_view k) { return t.contains(k); }))
      continue;
    r.error(a.pos, fmt::format("[[program.attach]] (type {}) needs '{}'", d.name, fmt::join(alternatives, "' or '")));
  }
}

// `bytecode = { path, sha256 }` or `{ image, pull_policy, sha256 }`: a relative path is
// resolved against the manifest's directory; an image reference is checked here, offline.
void parse_bytecode(Reader &r, const toml::node &v, const std::string &path, ProgramSpec &p) {
  p.bytecode_pos = pos_of(v.source());
  auto bt = r.table(v, "bytecode");
  if (!bt) return;
  const toml::node *policy_node = nullptr;
  r.each_key(*bt, "bytecode", {"path", "image", "pull_policy", "sha256"},
             [&](std::string_view bk, SourcePos, const toml::node &bv) {
    auto s = r.str(bv, bk);
    if (!s) return;
    if (bk == "path") {
      p.bytecode_pos = pos_of(bv.source());
      if (s->empty()) {
        r.error(bv, "'path' must not be empty");
        return;
      }
      std::filesystem::path bp(*s);
      if (bp.is_relative()) {
        // The error_code overload: the manifest's directory comes from getcwd()
        // when its path is relative, which can fail (ENOENT: cwd removed).
        std::error_code ec;
        auto dir = std::filesystem::absolute(std::filesystem::path(path), ec).parent_path();
        if (ec) {
          r.error(bv, fmt::format("relative 'path' cannot be resolved: {}", ec.message()));
          return;
        }
        bp = dir / bp;
      }
      p.bytecode_path = bp.lexically_normal().string();
    } else if (bk == "image") {
      p.bytecode_pos = pos_of(bv.source());
      auto ref = parse_image_reference(*s);
      if (!ref) r.error(bv, fmt::format("'image': {}", ref.error()));
      else p.bytecode_image = ref->str();
    } else if (bk == "pull_policy") {
      policy_node = &bv;
      p.pull_policy_pos = pos_of(bv.source());
      auto policy = pull_policy_from_string(*s);
      if (!policy) r.error(bv, fmt::format("'pull_policy' must be Always, IfNotPresent or Never, not '{}'", *s));
      else p.pull_policy = *policy;
    } else {
      p.sha256_pos = pos_of(bv.source());
      if (!is_sha256_hex(*s)) r.error(bv, "'sha256' must be 64 lower-case hex digits");
      else p.bytecode_sha256 = *s;
    }
  });
  const bool has_path = bt->contains("path"), has_image = bt->contains("image");
  if (!has_path && !has_image) r.error(v, "'bytecode' needs 'path' or 'image'");
  if (has_path && has_image) r.error(*bt->get("image"), "'bytecode' takes 'path' or 'image', not both");
  if (policy_node && !has_image) r.error(*policy_node, "'pull_policy' applies to 'image' bytecode only");
}

// `global_data`: integers (sized from BTF at validation) or "0x.." bytes, in file order.
void parse_global_data(Reader &r, const toml::node &v, ProgramSpec &p) {
  auto gt = r.table(v, "global_data");
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
                              gk.str(), toml_type_name(gv.type())));
      continue;
    }
    p.global_data.push_back(std::move(g));
  }
  // toml::table iterates in key order; the spec promises file order.
  std::stable_sort(p.global_data.begin(), p.global_data.end(), [](auto &x, auto &y) {
    return std::tie(x.pos.line, x.pos.column) < std::tie(y.pos.line, y.pos.column);
  });
}

// The program's `metadata`: free strings, bounded (limits.h).
void parse_program_metadata(Reader &r, const toml::node &v, ProgramSpec &p) {
  auto mt = r.table(v, "metadata");
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
                 parse_bytecode(r, v, path, p);
               } else if (key == "global_data") {
                 parse_global_data(r, v, p);
               } else if (key == "metadata") {
                 parse_program_metadata(r, v, p);
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
  // pinned, its maps there for tools and map owners. fentry/fexit/lsm cannot be: their function
  // (hook) is bound at load.
  if (type && target_fixed_at_load(*type) && (!attach || attach->empty()))
    r.error(p.pos, fmt::format("type {} takes exactly one [[program.attach]]: its {} is bound when the program "
                               "is loaded", to_string(*type), descriptor(*type).load_target_key));
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
        r.error(a.pos, fmt::format("type {0} takes exactly one [[program.attach]]: its {1} is fixed when the "
                                   "program is loaded (declare another [[program]] for another {1})",
                                   to_string(*type), descriptor(*type).load_target_key));
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
