#include "harness/daemon_api.h"

#include <sstream>
#include <stdexcept>

#include "harness/internal.h"

namespace it {

using detail::parse_json;

json describe() {
  const auto r = run({"busctl", "--system", "--json=short", "call", kService, kManagerPath,
                      kManagerIface, "Describe"});
  if (r.rc != 0) throw std::runtime_error("Describe failed: " + r.describe());
  const auto outer = parse_json(r.out);
  if (!outer || !outer->contains("data") || !(*outer)["data"].is_array() || (*outer)["data"].empty() ||
      !(*outer)["data"][0].is_string())
    throw std::runtime_error("Describe: unexpected busctl output: " + r.out);
  const auto inner = parse_json((*outer)["data"][0].get<std::string>());
  if (!inner) throw std::runtime_error("Describe did not return JSON: " + r.out);
  return *inner;
}

std::optional<json> get_property(const std::string& path, const std::string& iface,
                                 const std::string& prop) {
  const auto r = run({"busctl", "--system", "--json=short", "get-property", kService, path, iface, prop});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->contains("data")) return std::nullopt;
  return (*j)["data"];
}

CmdResult call_reload() {
  return run({"busctl", "--system", "call", kService, kManagerPath, kManagerIface, "Reload"}, 60s);
}

std::vector<std::string> object_paths() {
  const auto r = run({"busctl", "--system", "--list", "tree", kService});
  std::vector<std::string> out;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty() && line[0] == '/') out.push_back(line);
  return out;
}

std::optional<json> find_program(const json& desc, const std::string& name) {
  if (!desc.contains("programs") || !desc["programs"].is_array()) return std::nullopt;
  for (const auto& p : desc["programs"])
    if (p.value("name", "") == name) return p;
  return std::nullopt;
}

std::optional<json> find_manifest(const json& desc, const std::string& path) {
  if (!desc.contains("manifests") || !desc["manifests"].is_array()) return std::nullopt;
  for (const auto& m : desc["manifests"]) {
    const std::string p = m.value("path", "");
    if (p == path || (p.size() > path.size() && p.ends_with("/" + path))) return m;
  }
  return std::nullopt;
}

}  // namespace it
