// Sampling XDP/TCX hooks from a background thread (raw rtnetlink / BPF_PROG_QUERY), to see
// whether a hook was ever empty or doubly occupied while the daemon swapped programs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace it {

/// One hook to sample: XDP or TCX (ingress/egress) of an interface in a netns.
struct HookTarget {
  enum Kind { Xdp, TcxIngress, TcxEgress };
  Kind kind;
  std::string ns;  ///< netns name under /run/netns
  std::string ifname;
  /// "xdp@veth-a(ns)" for messages.
  std::string label() const;
};

/// One sample: per target, the program ids on the hook, or nullopt when the query failed
/// (e.g. the interface does not exist at that moment).
struct HookSample {
  std::chrono::steady_clock::time_point t;
  std::vector<std::optional<std::vector<std::uint32_t>>> ids;
};

/// Samples every target (in order, within one sample) every `period` on its own thread, with
/// raw rtnetlink / BPF_PROG_QUERY (no fork), until stop() or destruction.
class HookSampler {
 public:
  HookSampler(std::vector<HookTarget> targets, std::chrono::microseconds period);
  ~HookSampler();
  HookSampler(const HookSampler&) = delete;
  HookSampler& operator=(const HookSampler&) = delete;

  /// Stops the thread; samples() is stable afterwards.
  void stop();
  const std::vector<HookSample>& samples() const { return samples_; }
  const std::vector<HookTarget>& targets() const { return targets_; }
  /// Samples in which target i had no program (an empty hook; failed queries not counted).
  std::size_t empty_count(std::size_t i) const;
  /// Samples in which the query for target i failed.
  std::size_t error_count(std::size_t i) const;
  /// Largest number of programs seen at once on target i.
  std::size_t max_count(std::size_t i) const;
  /// Every distinct id set seen on target i, in order of first appearance, with time offsets:
  /// "+0.0ms [12] -> +35.1ms [] (x17) -> +52.0ms [14]" (for failure messages).
  std::string timeline(std::size_t i) const;
  /// Whether the thread ran at all, and the average period actually achieved.
  std::string rate() const;

 private:
  void loop();
  std::vector<HookTarget> targets_;
  std::chrono::microseconds period_;
  std::atomic<bool> stop_{false};
  std::vector<HookSample> samples_;
  std::string thread_error_;
  std::chrono::steady_clock::time_point start_;
  std::thread thread_;
};

}  // namespace it
