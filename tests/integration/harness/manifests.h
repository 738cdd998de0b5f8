// Manifest texts (TOML) for the standard test programs; the fixture's xdp_manifest,
// tc_manifest and tracepoint_manifest use them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace it {

/// One XDP program (generic mode) on ifname in the netns file netns_path.
std::string xdp_manifest_text(const std::string& name, const std::string& ifname,
                              const std::string& netns_path, int sample_every,
                              const std::string& object_path, const std::string& function);
/// One tc_counter program on ifname in netns_path, direction "ingress" or "egress".
std::string tc_manifest_text(const std::string& name, const std::string& ifname,
                             const std::string& netns_path, const std::string& direction);
/// One tracepoint_counter program on tracepoint tp ("category/name"), with global_data
/// sample_every when given.
std::string tracepoint_manifest_text(const std::string& name, const std::string& tp,
                                     std::optional<std::uint32_t> sample_every = std::nullopt);

}  // namespace it
