// sd_notify from the test's side: a NOTIFY_SOCKET that records the daemon's datagrams, and the
// CLOCK_MONOTONIC microseconds that MONOTONIC_USEC= is compared with.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace it {

/// CLOCK_MONOTONIC in microseconds (what MONOTONIC_USEC= carries).
std::uint64_t monotonic_usec();

/// A bound AF_UNIX datagram socket (what systemd's NOTIFY_SOCKET is) and a thread that records
/// every datagram. On the first READY=1 it runs `on_first_ready` right away (on its thread).
class NotifySocket {
 public:
  /// One datagram as received.
  struct Message {
    std::chrono::steady_clock::time_point t;
    std::uint64_t mono_usec;  ///< CLOCK_MONOTONIC at receipt
    std::string text;
    /// Whether one line of the datagram is exactly `line`.
    bool has(const std::string& line) const;
    /// The value of `key=` in the datagram, nullopt when absent.
    std::optional<std::string> value(const std::string& key) const;
  };

  NotifySocket(const std::string& path, std::function<std::string()> on_first_ready);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  const std::string& error() const { return error_; }

  /// Every datagram received so far (a copy).
  std::vector<Message> messages();
  /// What on_first_ready returned when the first READY=1 arrived; nullopt before that.
  std::optional<std::string> first_ready_check();
  /// How many datagrams have a line exactly `line`.
  std::size_t count(const std::string& line);
  /// Every datagram with its time offset, one a line (for failure messages).
  std::string dump();

 private:
  void loop();

  std::string path_;
  std::function<std::string()> on_first_ready_;
  int fd_ = -1;
  std::string error_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Message> messages_;
  std::optional<std::string> first_ready_check_;
  std::thread thread_;
};

}  // namespace it
