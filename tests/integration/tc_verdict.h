// A fixture for TC hooks shared by several tc_verdict programs (bpf/tc_verdict.bpf.c: counts every
// packet, then returns its `verdict` global) on veth-a's hook in netns a, pinged from netns b.
// The TcShared* (test_tc_shared.cpp) and TcCompat (test_tc_compat.cpp) suites derive from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace it {

/// TC action codes (linux/pkt_cls.h) that tc_verdict programs return.
inline constexpr int kShot = 2;
inline constexpr int kUnspec = -1;
inline constexpr int kPipe = 3;

class TcVerdictTest : public ReconcilerTest {
 protected:
  /// A manifest with one tc_verdict program `name` on veth-a (netns a) in `direction`, at
  /// `priority`, returning `verdict`; `proceed_on` (a TOML array, e.g. `["ok", "pipe"]`) is
  /// written only when not empty.
  std::string verdict_manifest(const std::string& name, int priority, int verdict,
                               const std::string& direction = "ingress", const std::string& proceed_on = "") const {
    return "[[program]]\n"
           "name = \"" + name + "\"\n"
           "type = \"tc\"\n"
           "bpf_function = \"tc_verdict\"\n"
           "bytecode = { path = \"" + obj("tc_verdict") + "\" }\n"
           "global_data = { verdict = " + std::to_string(verdict) + " }\n"
           "[[program.attach]]\n"
           "interface = \"" + net_->if_a + "\"\n"
           "netns = \"" + net_->path_a() + "\"\n"
           "direction = \"" + direction + "\"\n"
           "priority = " + std::to_string(priority) + "\n" +
           (proceed_on.empty() ? "" : "proceed_on = " + proceed_on + "\n");
  }
  /// Packets program `name` counted so far (its pinned counter map; 0 when unreadable).
  std::uint64_t count(const std::string& name) { return read_counter(map_pin(name), 0).value_or(0); }
  /// The kernel id of program `name`'s pin (0 when there is none).
  std::uint32_t id_of(const std::string& name) { return pinned_prog_id(prog_pin(name)).value_or(0); }
  /// Waits up to 10 s until `name` is attached everywhere; its status document, or nullopt.
  std::optional<json> wait_attached(const std::string& name) {
    using namespace std::chrono_literals;
    return wait_program(name, [](const json& p) { return p.value("state", "") == "attached"; }, 10s);
  }
  /// The counters of `names` once they stop moving (two reads 300 ms apart agree; late ARP or
  /// ping retries would otherwise land between two programs' reads). At most ~6 s.
  std::vector<std::uint64_t> settled(const std::vector<std::string>& names) {
    using namespace std::chrono_literals;
    std::vector<std::uint64_t> last;
    for (int i = 0; i < 20; ++i) {
      std::vector<std::uint64_t> now;
      for (auto& n : names) now.push_back(count(n));
      if (now == last) break;
      last = std::move(now);
      std::this_thread::sleep_for(300ms);
    }
    return last;
  }
  /// A program that drops on veth-a's ingress drops ARP too: once b's neighbour entry for a has
  /// expired, echo requests wait for a resolution that never comes and nothing is counted (seen
  /// in CI: 4 of 5, then 0). A permanent entry in b keeps every echo request going out.
  void pin_neighbour() {
    const auto link = run_in_netns(net_->a, {"ip", "-j", "link", "show", "dev", net_->if_a});
    const json j = json::parse(link.out, nullptr, false);
    ASSERT_TRUE(j.is_array() && !j.empty() && j[0].contains("address")) << link.describe();
    const auto r = run_in_netns(net_->b, {"ip", "neigh", "replace", kAddrA, "lladdr", j[0]["address"].get<std::string>(),
                                          "dev", net_->if_b, "nud", "permanent"});
    ASSERT_EQ(r.rc, 0) << r.describe();
  }
  /// Pings veth-a 5 times from netns b and returns how much each of `names` counted.
  std::vector<std::uint64_t> counted(const std::vector<std::string>& names) {
    pin_neighbour();
    const auto before = settled(names);
    (void)net_->ping_a_from_b(5);
    const auto after = settled(names);
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < names.size(); ++i) out.push_back(after[i] - before[i]);
    return out;
  }
};

}  // namespace it
