#include "machineconfig/machineconfig.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include "load/desired.h"
#include "util/sha256.h"

namespace bpfrec {
namespace fs = std::filesystem;

std::string gzip_bytes(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper; zlib writes mtime 0 and no file name by default.
  (void)deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  (void)deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  (void)deflateEnd(&zs);
  return out;
}

Result<std::string> gunzip_bytes(std::string_view data) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return fail("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[65536];
  int r = Z_OK;
  while (r != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef *>(buf);
    zs.avail_out = sizeof buf;
    r = inflate(&zs, Z_NO_FLUSH);
    if (r != Z_OK && r != Z_STREAM_END) {
      (void)inflateEnd(&zs);
      return fail("corrupt gzip data ({})", zs.msg ? zs.msg : "inflate error");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (r == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      (void)inflateEnd(&zs);
      return fail("truncated gzip data");
    }
  }
  (void)inflateEnd(&zs);
  return out;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                          reinterpret_cast<const unsigned char *>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return fail("base64 length {} is not a multiple of 4", text.size());
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                          reinterpret_cast<const unsigned char *>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return fail("invalid base64");
  // EVP_DecodeBlock counts padding as zero bytes: drop one per '='.
  size_t pad = 0;
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string data_url(std::string_view contents) { return "data:;base64," + base64_encode(gzip_bytes(contents)); }

namespace {

Result<std::string> read_whole(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail_errno(errno, "read {}", path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Byte offset of a toml++ position (1-based line, 1-based column counted in code points).
size_t offset_of(std::string_view text, const toml::source_position &p) {
  size_t off = 0;
  for (uint32_t line = 1; line < p.line && off < text.size(); ++off)
    if (text[off] == '\n') ++line;
  for (uint32_t col = 1; col < p.column && off < text.size(); ++off)
    if ((static_cast<unsigned char>(text[off]) & 0xC0) != 0x80) ++col;
  // Step over continuation bytes of the code point we stopped in front of.
  while (off < text.size() && (static_cast<unsigned char>(text[off]) & 0xC0) == 0x80) ++off;
  return off;
}

// A TOML basic string ("..."), like the rest of our manifests.
std::string toml_quote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

struct Edit {
  size_t begin, end;
  std::string text;
};

// Rewrites every program's bytecode to its node path and sha256, keeping the rest of the text.
// Errors: the text does not parse (it was checked before), a relative path that cannot be
// resolved, a bytecode path that was not collected.
Result<std::string> rewrite_manifest(const std::string &text, const std::string &manifest_path,
                                     const std::map<std::string, std::pair<std::string, std::string>> &objects,
                                     const TagResolver &resolve, std::vector<std::string> *warnings) {
  toml::table doc;
  try {
    doc = toml::parse(text, std::string_view(manifest_path));
  } catch (const toml::parse_error &e) {
    return fail("{}: {}", manifest_path, e.description());
  }
  std::vector<Edit> edits;
  if (auto *programs = doc["program"].as_array()) {
    for (auto &pn : *programs) {
      auto *bt = pn.as_table()->get("bytecode") ? pn.as_table()->get("bytecode")->as_table() : nullptr;
      if (!bt) continue;
      if (const toml::node *image_node = bt->get("image")) {
        // Carried as it is; a tag is pinned to its digest now, or warned about.
        auto ref = parse_image_reference(image_node->value<std::string>().value_or(""));
        if (!ref || !ref->digest.empty()) continue;  // checked before: a digest reference
        const auto ir = image_node->source();
        if (!resolve) {
          if (warnings)
            warnings->push_back(fmt::format(
                "{}:{}:{}: warning: image '{}' is a tag: the nodes of the pool may pull different digests while "
                "it moves; pin NAME@sha256:DIGEST (or render with --resolve-tags)",
                manifest_path, ir.begin.line, ir.begin.column, ref->str()));
          continue;
        }
        auto digest = resolve(*ref);
        if (!digest)
          return fail("{}:{}:{}: error: resolving the tag of '{}': {}", manifest_path, ir.begin.line, ir.begin.column,
                      ref->str(), digest.error().message);
        edits.push_back({offset_of(text, ir.begin), offset_of(text, ir.end), toml_quote(ref->name() + "@" + *digest)});
        continue;
      }
      const toml::node *path_node = bt->get("path");
      if (!path_node) continue;
      fs::path src(path_node->value<std::string>().value_or(""));
      if (src.is_relative()) {
        std::error_code ec;
        auto dir = fs::absolute(fs::path(manifest_path), ec).parent_path();
        if (ec) return fail("{}: relative bytecode path cannot be resolved: {}", manifest_path, ec.message());
        src = dir / src;
      }
      auto object = objects.find(src.lexically_normal().string());
      if (object == objects.end()) return fail("{}: bytecode {} was not collected", manifest_path, src.string());
      const auto &[node_path, sha] = object->second;
      const auto pr = path_node->source();
      edits.push_back({offset_of(text, pr.begin), offset_of(text, pr.end), toml_quote(node_path)});
      if (const toml::node *sha_node = bt->get("sha256")) {
        const auto sr = sha_node->source();
        edits.push_back({offset_of(text, sr.begin), offset_of(text, sr.end), toml_quote(sha)});
      } else {
        const size_t at = offset_of(text, pr.end);
        edits.push_back({at, at, (bt->is_inline() ? ", sha256 = " : "\nsha256 = ") + toml_quote(sha)});
        if (!bt->is_inline()) {
          // After the rest of the path's line (a comment may follow the value).
          const size_t eol = text.find('\n', at);
          edits.back().begin = edits.back().end = eol == std::string::npos ? text.size() : eol;
        }
      }
    }
  }
  std::sort(edits.begin(), edits.end(), [](const Edit &a, const Edit &b) { return a.begin > b.begin; });
  std::string out = text;
  for (auto &e : edits) out.replace(e.begin, e.end - e.begin, e.text);
  return out;
}

bool is_symlink(const std::string &path) {
  std::error_code ec;
  return fs::is_symlink(path, ec);
}

}  // namespace

Result<std::vector<NodeFile>> manifest_files(const std::vector<std::string> &paths, const TagResolver &resolve,
                                             std::vector<std::string> *warnings) {
  // Expand directories with the programs.d rules; keep explicit files as given.
  std::vector<std::string> manifests;
  for (auto &p : paths) {
    if (is_symlink(p))
      return fail("{} is a symlink, which a MachineConfig cannot carry: name {} instead", p,
                  fs::read_symlink(p).string());
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (auto &e : discover_manifests({p})) {
        if (e.state == ManifestState::Overridden) continue;
        if (e.state == ManifestState::Unreadable) return fail("{}", e.errors.front().str());
        if (is_symlink(e.path))
          return fail("{} is a symlink, which a MachineConfig cannot carry: name {} instead", e.path,
                      fs::read_symlink(e.path).string());
        manifests.push_back(e.path);
      }
    } else {
      manifests.push_back(p);
    }
  }
  DesiredState d = load_files(manifests);
  std::string errors;
  for (auto &m : d.manifests)
    for (auto &e : m.errors) errors += "\n" + e.str();
  if (!errors.empty()) return fail("invalid manifests:{}", errors);

  // Objects: source path -> (node path, sha256); node names made unique.
  std::map<std::string, std::pair<std::string, std::string>> objects;
  std::map<std::string, std::string> node_name_owner;  // node base name -> sha256
  std::vector<NodeFile> bytecode;
  for (auto &prog : d.programs) {
    if (prog.bytecode_path.empty() || objects.contains(prog.bytecode_path)) continue;
    if (is_symlink(prog.bytecode_path))
      return fail("bytecode {} is a symlink, which a MachineConfig cannot carry: name {} instead", prog.bytecode_path,
                  fs::read_symlink(prog.bytecode_path).string());
    std::string base = fs::path(prog.bytecode_path).filename().string();
    auto [it, fresh] = node_name_owner.emplace(base, prog.bytecode_digest);
    if (!fresh && it->second != prog.bytecode_digest) base = prog.bytecode_digest.substr(0, 12) + "-" + base;
    const std::string node_path = std::string(kNodeBytecodeDir) + "/" + base;
    objects[prog.bytecode_path] = {node_path, prog.bytecode_digest};
    auto content = read_whole(prog.bytecode_path);
    if (!content) return std::unexpected(content.error());
    if (sha256_hex(*content) != prog.bytecode_digest)
      return fail("{} changed while rendering; try again", prog.bytecode_path);
    if (std::none_of(bytecode.begin(), bytecode.end(), [&](const NodeFile &f) { return f.path == node_path; }))
      bytecode.push_back({node_path, std::move(*content), 0644});
  }
  std::vector<NodeFile> out;
  for (auto &m : d.manifests) {
    auto text = read_whole(m.path);
    if (!text) return std::unexpected(text.error());
    const std::string node_path = std::string(kNodeProgramsDir) + "/" + fs::path(m.path).filename().string();
    // A masked (empty) manifest is carried as it is: it masks the name on the node too.
    if (m.state == ManifestState::Masked) {
      out.push_back({node_path, *text, 0644});
      continue;
    }
    auto rewritten = rewrite_manifest(*text, m.path, objects, resolve, warnings);
    if (!rewritten) return std::unexpected(rewritten.error());
    out.push_back({node_path, std::move(*rewritten), 0644});
  }
  out.insert(out.end(), std::make_move_iterator(bytecode.begin()), std::make_move_iterator(bytecode.end()));
  return out;
}

Result<void> check_node_files(const std::vector<NodeFile> &files) {
  std::set<std::string> seen;
  for (auto &f : files) {
    if (f.path.empty() || f.path[0] != '/') return fail("{}: node paths must be absolute", f.path);
    if (!seen.insert(f.path).second) return fail("{} is given twice", f.path);
    if (f.mode & (S_ISUID | S_ISGID | S_ISVTX))
      return fail("{}: mode {:04o} has setuid, setgid or sticky bits, which a MachineConfig must not carry", f.path,
                  f.mode);
    if (f.mode > 0777) return fail("{}: mode {:o} is not a permission mode", f.path, f.mode);
  }
  return {};
}

namespace {

// A YAML scalar for `s`: plain when that cannot be misread (paths, data URLs, names), else a
// double-quoted scalar with JSON escapes (YAML 1.2 double-quoted style accepts them).
std::string yaml_scalar(const std::string &s) {
  static const std::set<std::string> reserved{"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"};
  // A digit may lead ("50-bpfman-programs") when a letter follows somewhere: then it cannot be
  // read as a number, a date or a time.
  const bool has_alpha = std::any_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
  bool plain = !s.empty() && !reserved.contains(s) && has_alpha &&
               (std::isalnum(static_cast<unsigned char>(s[0])) || s[0] == '/');
  for (char c : s)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._;,+=@-", c) ||
                      (c == ':' && &c != &s.back()));
  // ':' is fine unless followed by a space or at the end; we never emit spaces in plain scalars.
  if (plain && s.find(": ") == std::string::npos && s.back() != ':') return s;
  return nlohmann::json(s).dump();
}

// A literal block scalar for text such as a unit file, indented by `indent` spaces.
std::string yaml_block(const std::string &text, int indent) {
  bool literal = !text.empty() && text[0] != ' ' && text[0] != '\n';
  for (unsigned char c : text) literal = literal && (c >= 0x20 || c == '\n') && c != 0x7f;
  if (!literal) return nlohmann::json(text).dump();
  std::string out = text.back() == '\n' ? "|\n" : "|-\n";
  const std::string pad(static_cast<size_t>(indent), ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    out += line.empty() ? "\n" : pad + line + "\n";
    start = end + 1;
  }
  if (text.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

// Written by hand rather than with YAML::Emitter: the structure is fixed, and yaml-cpp 0.7
// needs seconds for a data URL of a few MiB.
std::string render_machineconfig(const MachineConfigSpec &spec) {
  std::string y;
  y += "apiVersion: machineconfiguration.openshift.io/v1\n";
  y += "kind: MachineConfig\n";
  y += "metadata:\n";
  y += "  name: " + yaml_scalar(spec.name) + "\n";
  y += "  labels:\n";
  y += "    machineconfiguration.openshift.io/role: " + yaml_scalar(spec.role) + "\n";
  y += "spec:\n";
  y += "  config:\n";
  y += "    ignition:\n";
  y += "      version: 3.4.0\n";
  if (!spec.files.empty()) {
    y += "    storage:\n";
    y += "      files:\n";
    for (auto &f : spec.files) {
      y += "        - path: " + yaml_scalar(f.path) + "\n";
      // Ignition wants the mode as a decimal integer (0644 -> 420).
      y += "          mode: " + std::to_string(f.mode) + "\n";
      y += "          overwrite: true\n";
      y += "          contents:\n";
      y += "            compression: gzip\n";
      y += "            source: " + yaml_scalar(data_url(f.contents)) + "\n";
    }
  }
  if (!spec.units.empty()) {
    y += "    systemd:\n";
    y += "      units:\n";
    for (auto &u : spec.units) {
      y += "        - name: " + yaml_scalar(u.name) + "\n";
      y += std::string("          enabled: ") + (u.enabled ? "true" : "false") + "\n";
      y += "          contents: " + yaml_block(u.contents, 12) + "\n";
    }
  }
  return y;
}

Result<std::string> render_checked(const MachineConfigSpec &spec, bool force) {
  if (auto r = check_node_files(spec.files); !r) return std::unexpected(r.error());
  std::string yaml = render_machineconfig(spec);
  if (yaml.size() > kMachineConfigLimit && !force)
    return fail("the MachineConfig is {} bytes, over the {} bytes this tool allows (etcd stores at most 1.5 MiB per "
                "object, and the pool's rendered config merges every MachineConfig of the pool); split it, or pass "
                "--force",
                yaml.size(), kMachineConfigLimit);
  return yaml;
}

}  // namespace bpfrec
