// A private D-Bus system bus for the daemon (a dbus-daemon child process), and pointing
// DBUS_SYSTEM_BUS_ADDRESS at another one for a scope.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace it {

/// A private dbus-daemon of type system with a permissive policy.
class Bus {
 public:
  explicit Bus(const std::string& dir);
  /// A private dbus-daemon with the given configuration file instead; it must listen on
  /// unix:path=<dir>/system_bus_socket (its log goes to <dir>/dbus-daemon.log).
  Bus(const std::string& dir, const std::string& config_file);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  /// unix:path=<dir>/system_bus_socket (the guid dbus-daemon prints is left out).
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  /// SIGKILL, as `kill -9` would (the socket file stays behind), and reap.
  void kill_hard();
  /// Starts the same dbus-daemon again (same configuration, same socket path); error() says
  /// whether it came up.
  void restart();

 private:
  void start(const std::string& dir, const std::string& conf);
  std::string dir_, conf_;
  pid_t pid_ = -1;
  std::string address_;
  std::string error_;
};

/// Sets DBUS_SYSTEM_BUS_ADDRESS for the scope (to talk to, or start, a second daemon on its own
/// bus), restoring the previous value after.
class ScopedBusAddress {
 public:
  explicit ScopedBusAddress(const std::string& address);
  ~ScopedBusAddress();

 private:
  std::optional<std::string> previous_;
};

}  // namespace it
