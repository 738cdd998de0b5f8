#include "types/attach_keys.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "manifest/interface_pattern.h"
#include "types/type.h"

namespace bpfrec::keys {

namespace {

void proceed_on(TomlReader &r, const toml::node &v, NetIfAttach &a, const TypeDescriptor &d) {
  auto arr = v.as_array();
  if (!arr) {
    r.error(v, fmt::format("'proceed_on' must be an array of strings, not {}", toml_type_name(v.type())));
    return;
  }
  a.proceed_on_explicit = true;
  a.proceed_on.clear();
  const auto &names = d.proceed_on_names;
  for (auto &e : *arr) {
    auto s = r.str(e, "proceed_on");
    if (!s) continue;
    if (std::find(names.begin(), names.end(), *s) == names.end())
      r.error(e, fmt::format("unknown {} proceed_on action '{}' (expected one of: {})", d.name, *s,
                             fmt::join(names, ", ")));
    else if (std::find(a.proceed_on.begin(), a.proceed_on.end(), *s) != a.proceed_on.end())
      r.error(e, fmt::format("proceed_on action '{}' is listed twice", *s));
    else a.proceed_on.push_back(*s);
  }
}

}  // namespace

std::optional<std::string> read_interface(TomlReader &r, const toml::node &v) {
  auto s = r.str(v, "interface");
  if (!s) return std::nullopt;
  if (auto why = interface_value_error(*s)) {
    r.error(v, *why);
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> read_netns(TomlReader &r, const toml::node &v) {
  auto s = r.str(v, "netns");
  if (!s) return std::nullopt;
  if (s->empty() || (*s)[0] != '/') {
    r.error(v, "'netns' must be an absolute path such as /run/netns/blue");
    return std::nullopt;
  }
  return s;
}

std::optional<uint32_t> read_priority(TomlReader &r, const toml::node &v) {
  if (auto n = r.integer(v, "priority", 0, 1000)) return static_cast<uint32_t>(*n);
  return std::nullopt;
}

void xdp_proceed_on(TomlReader &r, const toml::node &v, AttachSpec &a) {
  proceed_on(r, v, params<XdpAttach>(a), types::xdp());
}
void tc_proceed_on(TomlReader &r, const toml::node &v, AttachSpec &a) {
  proceed_on(r, v, params<TcAttach>(a), types::tc());
}

std::optional<TcDirection> read_direction(TomlReader &r, const toml::node &v) {
  auto s = r.str(v, "direction");
  if (!s) return std::nullopt;
  if (*s == "ingress") return TcDirection::Ingress;
  if (*s == "egress") return TcDirection::Egress;
  r.error(v, fmt::format("'direction' = \"{}\" is not one of: ingress, egress", *s));
  return std::nullopt;
}

bool valid_kernel_symbol(std::string_view s) {
  return !s.empty() && s.size() < 256 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

std::optional<std::string> read_kernel_function(TomlReader &r, const toml::node &v) {
  auto s = r.str(v, "function");
  if (!s) return std::nullopt;
  if (s->empty()) r.error(v, "'function' must not be empty");
  else if (!valid_kernel_symbol(*s))
    r.error(v, fmt::format("'function' = \"{}\" is not a kernel symbol name (letters, digits, '_', '.')", *s));
  else return s;
  return std::nullopt;
}

void user_function(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "function")) {
    if (s->empty()) r.error(v, "'function' must not be empty");
    else params<UprobeAttach>(a).function = *s;
  }
}

void lsm_hook(TomlReader &r, const toml::node &v, AttachSpec &a) {
  auto s = r.str(v, "hook");
  if (!s) return;
  constexpr std::string_view kPrefix = "bpf_lsm_";
  if (s->empty()) r.error(v, "'hook' must not be empty");
  else if (s->find('.') != std::string::npos || !valid_kernel_symbol(*s) || s->size() > 255 - kPrefix.size())
    r.error(v, fmt::format("'hook' = \"{}\" is not an LSM hook name (letters, digits, '_'; e.g. file_open)", *s));
  else if (s->starts_with(kPrefix))
    r.error(v, fmt::format("'hook' = \"{}\": name the hook without the kernel's bpf_lsm_ prefix (\"{}\")", *s,
                           s->substr(kPrefix.size())));
  else params<LsmAttach>(a).hook = *s;
}

std::optional<uint64_t> read_offset(TomlReader &r, const toml::node &v) {
  if (auto n = r.integer(v, "offset", 0, INT64_MAX)) return static_cast<uint64_t>(*n);
  return std::nullopt;
}

void cgroup(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "cgroup")) {
    if (s->empty() || (*s)[0] != '/') {
      r.error(v, "'cgroup' must be the absolute path of a cgroup v2 directory, e.g. /sys/fs/cgroup/app.slice");
      return;
    }
    // "/sys/fs/cgroup//app/" -> "/sys/fs/cgroup/app", so that spellings of one cgroup share a key.
    std::string n = std::filesystem::path(*s).lexically_normal().string();
    while (n.size() > 1 && n.back() == '/') n.pop_back();
    params<CgroupAttach>(a).cgroup = std::move(n);
  }
}

void interface_canonical(const NetIfAttach &a, std::string &o) {
  auto add = [&o](std::string_view v) { o.append(v.data(), v.size()); };
  add("if="), add(a.interface), add("\nnetns="), add(a.netns), add("\nprio="), add(std::to_string(a.priority)),
      add("\nproceed=");
  // proceed_on is a set: order in the file does not matter.
  std::set<std::string> s(a.proceed_on.begin(), a.proceed_on.end());
  for (auto &p : s) add(p), o += ',';
}

}  // namespace bpfrec::keys
