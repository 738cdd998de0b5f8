#include "kernel/libbpf_log.h"

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <cstdarg>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "kernel/kernel.h"

namespace bpfrec {
namespace {

void remember(const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.empty()) return;
  spdlog::debug("libbpf: {}", line);
  auto &lines = recent_libbpf_log();
  lines.push_back(std::move(line));
  while (lines.size() > 8) lines.pop_front();
}

int libbpf_print(enum libbpf_print_level, const char *fmt, va_list ap) {
  remember(fmt, ap);
  return 0;
}

int libxdp_print(enum libxdp_print_level, const char *fmt, va_list ap) {
  remember(fmt, ap);
  return 0;
}

}  // namespace

std::deque<std::string> &recent_libbpf_log() {
  static std::deque<std::string> lines;
  return lines;
}

void install_libbpf_logging() {
  libbpf_set_print(libbpf_print);
  libxdp_set_print(libxdp_print);
}

}  // namespace bpfrec
