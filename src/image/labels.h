// What a bytecode image says about its object, in its config's labels (bpfman
// docs/developer-guide/shipping-bytecode.md; read as bpfman's oci_utils/image_manager.rs reads
// them): `io.ebpf.programs` and `io.ebpf.maps`, each a JSON object in a string, or the legacy
// single-program labels.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "manifest/manifest.h"
#include "util/result.h"

namespace bpfrec {

/// The labels of one bytecode image, parsed.
struct ImageLabels {
  /// BPF function name -> bpfman's program type name ("xdp", "tc", "tcx", "kprobe", ...), as
  /// the image gives them (from io.ebpf.programs, or the one legacy pair).
  std::map<std::string, std::string> programs;
  /// Map name -> map type, as io.ebpf.maps gives them (informational; empty for legacy images).
  std::map<std::string, std::string> maps;
  /// True when read from the legacy labels (io.ebpf.bpf_function_name and io.ebpf.program_type).
  bool legacy = false;
  /// The legacy io.ebpf.program_name and io.ebpf.filename, when given; empty otherwise.
  std::string program_name, filename;
};

/// The labels of an image config (image-spec config.md: `config.Labels`, string to string;
/// Docker's container config has the same field). io.ebpf.programs wins when present
/// (io.ebpf.maps then optional, where bpfman's Rust wants both); else the legacy
/// io.ebpf.bpf_function_name and io.ebpf.program_type (io.ebpf.program_name and
/// io.ebpf.filename read when present). `what` names the config in errors (e.g. its blob).
/// Errors: no labels, a label that is not a string, io.ebpf.programs or io.ebpf.maps not a JSON
/// object of strings, an empty programs object, neither the new nor the legacy labels.
Result<ImageLabels> labels_from_config(const nlohmann::json &config, std::string_view what);

/// Our program type for bpfman's type name `name`: bpfman's "tcx" is our "tc" (the mechanism,
/// TCX or another, is chosen by probing); every other name is a descriptor's (src/types).
/// Errors: a name no descriptor has.
Result<ProgramType> program_type_of_label(std::string_view name);

/// Whether `labels` promise what the manifest asks for: `bpf_function` is listed and its type
/// (program_type_of_label) is `type`. Errors name the function, the types on both sides, and
/// the functions the image does list.
Result<void> check_image_labels(const ImageLabels &labels, std::string_view bpf_function, ProgramType type);

}  // namespace bpfrec
