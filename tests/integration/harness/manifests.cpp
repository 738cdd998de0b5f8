#include "harness/manifests.h"

#include "harness/objects.h"

namespace it {

std::string xdp_manifest_text(const std::string& name, const std::string& ifname,
                              const std::string& netns_path, int sample_every,
                              const std::string& object_path, const std::string& function) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"xdp\"\n"
         "bpf_function = \"" + function + "\"\n"
         "bytecode = { path = \"" + object_path + "\" }\n"
         "global_data = { sample_every = " + std::to_string(sample_every) + " }\n"
         "metadata = { owner = \"integration-test\" }\n"
         "[[program.attach]]\n"
         "interface = \"" + ifname + "\"\n"
         "netns = \"" + netns_path + "\"\n"
         "mode = \"skb\"\n";
}

std::string tc_manifest_text(const std::string& name, const std::string& ifname,
                             const std::string& netns_path, const std::string& direction) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"tc\"\n"
         "bpf_function = \"tc_count\"\n"
         "bytecode = { path = \"" + bpf_object_path("tc_counter") + "\" }\n"
         "[[program.attach]]\n"
         "interface = \"" + ifname + "\"\n"
         "netns = \"" + netns_path + "\"\n"
         "direction = \"" + direction + "\"\n";
}

std::string tracepoint_manifest_text(const std::string& name, const std::string& tp,
                                     std::optional<std::uint32_t> sample_every) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"tracepoint\"\n"
         "bpf_function = \"tracepoint_count\"\n"
         "bytecode = { path = \"" + bpf_object_path("tracepoint_counter") + "\" }\n" +
         (sample_every ? "global_data = { sample_every = " + std::to_string(*sample_every) + " }\n" : "") +
         "[[program.attach]]\n"
         "tracepoint = \"" + tp + "\"\n";
}

}  // namespace it
