#include "harness/bus.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "harness/common.h"
#include "harness/internal.h"
#include "harness/process.h"

namespace it {

using detail::errno_text;

Bus::Bus(const std::string& dir) {
  const std::string sock = dir + "/system_bus_socket";
  const std::string conf = dir + "/bus.conf";
  {
    std::ofstream out(conf);
    out << R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)" << sock << R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
  </policy>
</busconfig>
)";
  }
  start(dir, conf);
}

Bus::Bus(const std::string& dir, const std::string& config_file) { start(dir, config_file); }

void Bus::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Bus::restart() {
  kill_hard();
  error_.clear();
  address_.clear();
  start(dir_, conf_);
}

void Bus::start(const std::string& dir, const std::string& conf) {
  dir_ = dir;
  conf_ = conf;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    error_ = errno_text("pipe");
    return;
  }
  const std::string conf_arg = "--config-file=" + conf;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(p[1], 3);  // dup2 clears O_CLOEXEC on the new descriptor
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
    }
    // Its complaints (e.g. "Failed to set fd limit") go to a file, not the test output.
    const int logfd = ::open((dir + "/dbus-daemon.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (logfd >= 0) ::dup2(logfd, 2);
    ::execlp("dbus-daemon", "dbus-daemon", conf_arg.c_str(), "--nofork", "--nopidfile",
             "--nosyslog", "--print-address=3", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  if (pid_ < 0) {
    ::close(p[0]);
    error_ = errno_text("fork");
    return;
  }
  // The address is printed once the bus listens.
  pollfd pfd{p[0], POLLIN, 0};
  char buf[512];
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (address_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t r = ::read(p[0], buf, sizeof buf);
    if (r <= 0) break;
    address_.append(buf, static_cast<std::size_t>(r));
  }
  ::close(p[0]);
  if (const auto nl = address_.find('\n'); nl != std::string::npos) {
    address_.resize(nl);
    // Without the server's guid, as DBUS_SYSTEM_BUS_ADDRESS is on a real system: a client that
    // knows the guid refuses a restarted bus (another guid) on the same socket.
    if (const auto g = address_.find(",guid="); g != std::string::npos) address_.resize(g);
  } else {
    error_ = "dbus-daemon did not print its address (got '" + address_ + "')";
  }
}

Bus::~Bus() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    if (!wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 2s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
}

ScopedBusAddress::ScopedBusAddress(const std::string& address) {
  if (const char* p = std::getenv("DBUS_SYSTEM_BUS_ADDRESS")) previous_ = p;
  ::setenv("DBUS_SYSTEM_BUS_ADDRESS", address.c_str(), 1);
}

ScopedBusAddress::~ScopedBusAddress() {
  if (previous_) ::setenv("DBUS_SYSTEM_BUS_ADDRESS", previous_->c_str(), 1);
  else ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
}

}  // namespace it
