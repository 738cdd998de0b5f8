#include "harness/hook_sampler.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "harness/internal.h"
#include "harness/kernel_view.h"

namespace it {

using detail::ids_text;

std::string HookTarget::label() const {
  const char* k = kind == Xdp ? "xdp" : kind == TcxIngress ? "tcx-ingress" : "tcx-egress";
  return std::string(k) + "@" + ifname + "(" + ns + ")";
}

HookSampler::HookSampler(std::vector<HookTarget> targets, std::chrono::microseconds period)
    : targets_(std::move(targets)), period_(period), start_(std::chrono::steady_clock::now()) {
  samples_.reserve(8192);
  thread_ = std::thread([this] { loop(); });
}

HookSampler::~HookSampler() { stop(); }

void HookSampler::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void HookSampler::loop() {
  std::vector<int> ns_fds;
  std::vector<int> nl_fds;
  for (const auto& t : targets_) {
    const int fd = ::open(("/run/netns/" + t.ns).c_str(), O_RDONLY | O_CLOEXEC);
    ns_fds.push_back(fd);
    int nl = -1;
    if (fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0)
      nl = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);  // lives in that netns
    nl_fds.push_back(nl);
    if (fd < 0 || nl < 0) thread_error_ += "cannot enter netns " + t.ns + "; ";
  }
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    HookSample s;
    s.t = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      std::optional<std::vector<std::uint32_t>> ids;
      if (ns_fds[i] >= 0 && ::setns(ns_fds[i], CLONE_NEWNET) == 0) {
        const unsigned ifindex = ::if_nametoindex(targets_[i].ifname.c_str());
        if (ifindex != 0) {
          if (targets_[i].kind == HookTarget::Xdp) ids = xdp_ids_nl(nl_fds[i], ifindex);
          else ids = tcx_ids_here(ifindex, targets_[i].kind == HookTarget::TcxIngress);
        }
      }
      s.ids.push_back(std::move(ids));
    }
    samples_.push_back(std::move(s));
    next += period_;
    const auto now = std::chrono::steady_clock::now();
    if (next > now) std::this_thread::sleep_until(next);
    else next = now;
  }
  for (int fd : ns_fds)
    if (fd >= 0) ::close(fd);
  for (int fd : nl_fds)
    if (fd >= 0) ::close(fd);
}

std::size_t HookSampler::empty_count(std::size_t i) const {
  std::size_t n = 0;
  for (const auto& s : samples_) n += s.ids[i] && s.ids[i]->empty();
  return n;
}

std::size_t HookSampler::error_count(std::size_t i) const {
  std::size_t n = 0;
  for (const auto& s : samples_) n += !s.ids[i];
  return n;
}

std::size_t HookSampler::max_count(std::size_t i) const {
  std::size_t n = 0;
  for (const auto& s : samples_)
    if (s.ids[i]) n = std::max(n, s.ids[i]->size());
  return n;
}

std::string HookSampler::timeline(std::size_t i) const {
  std::string out = targets_[i].label() + ": ";
  std::optional<std::optional<std::vector<std::uint32_t>>> prev;
  std::size_t run_len = 0;
  char buf[64];
  for (const auto& s : samples_) {
    if (prev && *prev == s.ids[i]) {
      ++run_len;
      continue;
    }
    if (prev) out += " (x" + std::to_string(run_len) + ") -> ";
    std::snprintf(buf, sizeof buf, "+%.1fms ",
                  std::chrono::duration<double, std::milli>(s.t - start_).count());
    out += buf + ids_text(s.ids[i]);
    prev = s.ids[i];
    run_len = 1;
  }
  if (prev) out += " (x" + std::to_string(run_len) + ")";
  return out;
}

std::string HookSampler::rate() const {
  if (samples_.size() < 2) return std::to_string(samples_.size()) + " samples " + thread_error_;
  const double ms = std::chrono::duration<double, std::milli>(samples_.back().t - samples_.front().t).count();
  char buf[128];
  std::snprintf(buf, sizeof buf, "%zu samples over %.0f ms (every %.2f ms)", samples_.size(), ms,
                ms / static_cast<double>(samples_.size() - 1));
  return buf + (thread_error_.empty() ? "" : "; " + thread_error_);
}

}  // namespace it
