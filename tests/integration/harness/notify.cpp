#include "harness/notify.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>

namespace it {

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

bool NotifySocket::Message::has(const std::string& line) const {
  std::stringstream ss(text);
  std::string l;
  while (std::getline(ss, l))
    if (l == line) return true;
  return false;
}

std::optional<std::string> NotifySocket::Message::value(const std::string& key) const {
  std::stringstream ss(text);
  std::string l;
  while (std::getline(ss, l))
    if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
  return std::nullopt;
}

NotifySocket::NotifySocket(const std::string& path, std::function<std::string()> on_first_ready)
    : path_(path), on_first_ready_(std::move(on_first_ready)) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    error_ = "socket path too long: " + path;
    return;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    error_ = std::string("bind ") + path + ": " + std::strerror(errno);
    return;
  }
  thread_ = std::thread([this] { loop(); });
}

NotifySocket::~NotifySocket() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  ::unlink(path_.c_str());
}

std::vector<NotifySocket::Message> NotifySocket::messages() {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

std::optional<std::string> NotifySocket::first_ready_check() {
  std::lock_guard<std::mutex> lock(mu_);
  return first_ready_check_;
}

std::size_t NotifySocket::count(const std::string& line) {
  std::size_t n = 0;
  for (const auto& m : messages()) n += m.has(line);
  return n;
}

std::string NotifySocket::dump() {
  std::string out;
  const auto msgs = messages();
  const auto t0 = msgs.empty() ? std::chrono::steady_clock::now() : msgs.front().t;
  for (const auto& m : msgs) {
    std::string text = m.text;
    for (auto& ch : text)
      if (ch == '\n') ch = '|';
    out += "  +" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(m.t - t0).count()) +
           "ms " + text + "\n";
  }
  return out.empty() ? "  (no datagrams)\n" : out;
}

void NotifySocket::loop() {
  char buf[4096];
  while (!stop_) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) continue;
    Message m{std::chrono::steady_clock::now(), monotonic_usec(), std::string(buf, static_cast<std::size_t>(n))};
    std::optional<std::string> check;
    bool first_ready = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first_ready = m.has("READY=1") && !first_ready_check_;
    }
    if (first_ready) check = on_first_ready_();  // at once: the daemon keeps running meanwhile
    std::lock_guard<std::mutex> lock(mu_);
    if (check) first_ready_check_ = check;
    messages_.push_back(std::move(m));
  }
}

}  // namespace it
