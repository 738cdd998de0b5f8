#include "image/labels.h"

#include <nlohmann/json.hpp>

#include "types/type.h"

namespace bpfrec {
namespace {

constexpr std::string_view kPrograms = "io.ebpf.programs";
constexpr std::string_view kMaps = "io.ebpf.maps";
constexpr std::string_view kFunction = "io.ebpf.bpf_function_name";
constexpr std::string_view kType = "io.ebpf.program_type";
constexpr std::string_view kProgramName = "io.ebpf.program_name";
constexpr std::string_view kFilename = "io.ebpf.filename";

// A label whose value is a JSON object of strings in a string, as bpfman's image build writes
// io.ebpf.programs and io.ebpf.maps.
Result<std::map<std::string, std::string>> json_label(std::string_view what, std::string_view label,
                                                      const std::string &text) {
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object())
    return fail("{}: label {} is not a JSON object: '{}'", what, label, text);
  std::map<std::string, std::string> out;
  for (auto &[k, v] : parsed.items()) {
    if (!v.is_string()) return fail("{}: label {}: the value of '{}' is not a string", what, label, k);
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

std::string listed(const std::map<std::string, std::string> &programs) {
  std::string out;
  for (auto &[f, t] : programs) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", f, t);
  return out;
}

}  // namespace

Result<ImageLabels> labels_from_config(const nlohmann::json &config, std::string_view what) {
  const nlohmann::json *labels = nullptr;
  if (config.is_object())
    if (auto c = config.find("config"); c != config.end() && c->is_object())
      if (auto l = c->find("Labels"); l != c->end() && l->is_object()) labels = &*l;
  if (!labels) return fail("{}: no config.Labels: not a bytecode image (bpfman's labels are io.ebpf.*)", what);
  std::map<std::string, std::string> strings;
  for (auto &[k, v] : labels->items()) {
    if (!k.starts_with("io.ebpf.")) continue;
    if (!v.is_string()) return fail("{}: label {} is not a string", what, k);
    strings.emplace(k, v.get<std::string>());
  }
  auto get = [&](std::string_view k) -> const std::string * {
    auto it = strings.find(std::string(k));
    return it == strings.end() ? nullptr : &it->second;
  };
  ImageLabels out;
  if (const std::string *programs = get(kPrograms)) {
    auto p = json_label(what, kPrograms, *programs);
    if (!p) return fail(p.error());
    if (p->empty()) return fail("{}: label {} lists no program", what, kPrograms);
    out.programs = std::move(*p);
    if (const std::string *maps = get(kMaps)) {
      auto m = json_label(what, kMaps, *maps);
      if (!m) return fail(m.error());
      out.maps = std::move(*m);
    }
    return out;
  }
  const std::string *function = get(kFunction), *type = get(kType);
  if (!function || !type)
    return fail("{}: neither label {} nor the legacy {} and {}: not a bytecode image in bpfman's format", what,
                kPrograms, kFunction, kType);
  if (function->empty() || type->empty()) return fail("{}: legacy label {} or {} is empty", what, kFunction, kType);
  out.legacy = true;
  out.programs.emplace(*function, *type);
  if (const std::string *n = get(kProgramName)) out.program_name = *n;
  if (const std::string *f = get(kFilename)) out.filename = *f;
  return out;
}

Result<ProgramType> program_type_of_label(std::string_view name) {
  // bpfman's "tcx" names the mechanism; our "tc" picks TCX (or another) by probing.
  if (name == "tcx") name = "tc";
  if (const TypeDescriptor *d = find_descriptor(name)) return d->type;
  return fail("program type '{}' is not one this reconciler knows", name);
}

Result<void> check_image_labels(const ImageLabels &labels, std::string_view bpf_function, ProgramType type) {
  auto it = labels.programs.find(std::string(bpf_function));
  if (it == labels.programs.end())
    return fail("the image's labels do not list bpf_function '{}' (they list {})", bpf_function,
                listed(labels.programs));
  auto t = program_type_of_label(it->second);
  if (!t) return fail("the image's labels give bpf_function '{}' {}", bpf_function, t.error().message);
  if (*t != type)
    return fail("the image's labels give bpf_function '{}' type '{}', the manifest type '{}'", bpf_function,
                it->second, to_string(type));
  return {};
}

}  // namespace bpfrec
