#include "harness/netns.h"

#include "harness/env.h"

namespace it {

NetnsPair::NetnsPair() : a(unique_name("itna")), b(unique_name("itnb")) {
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "netns", "add", a},
      {"ip", "netns", "add", b},
      {"ip", "link", "add", if_a, "netns", a, "type", "veth", "peer", "name", if_b, "netns", b},
      {"ip", "-n", a, "addr", "add", std::string(kAddrA) + "/30", "dev", if_a},
      {"ip", "-n", b, "addr", "add", std::string(kAddrB) + "/30", "dev", if_b},
      {"ip", "-n", a, "link", "set", "lo", "up"},
      {"ip", "-n", b, "link", "set", "lo", "up"},
      {"ip", "-n", a, "link", "set", if_a, "up"},
      {"ip", "-n", b, "link", "set", if_b, "up"},
  };
  for (const auto& s : steps) {
    const auto r = run(s);
    if (r.rc != 0) {
      std::string cmd;
      for (const auto& w : s) cmd += w + " ";
      error_ = cmd + "-> " + r.describe();
      return;
    }
  }
}

NetnsPair::~NetnsPair() {
  run({"ip", "netns", "del", a});
  run({"ip", "netns", "del", b});
}

CmdResult NetnsPair::ping_a_from_b(int count) const {
  return run_in_netns(b, {"ping", "-c", std::to_string(count), "-i", "0.01", "-W", "1", "-q", kAddrA});
}

std::string add_veth(const std::string& ns1, const std::string& if1, const std::string& ns2,
                     const std::string& if2, const std::string& addr1, const std::string& addr2) {
  std::vector<std::vector<std::string>> steps = {
      {"ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2}};
  if (!addr1.empty()) steps.push_back({"ip", "-n", ns1, "addr", "add", addr1 + "/30", "dev", if1});
  if (!addr2.empty()) steps.push_back({"ip", "-n", ns2, "addr", "add", addr2 + "/30", "dev", if2});
  steps.push_back({"ip", "-n", ns1, "link", "set", if1, "up"});
  steps.push_back({"ip", "-n", ns2, "link", "set", if2, "up"});
  for (const auto& s : steps) {
    const auto r = run(s);
    if (r.rc != 0) {
      std::string cmd;
      for (const auto& w : s) cmd += w + " ";
      return cmd + "-> " + r.describe();
    }
  }
  return "";
}

}  // namespace it
