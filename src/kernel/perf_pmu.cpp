#include "kernel/perf_pmu.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "util/number.h"

namespace bpfrec {

Result<std::string> read_first_line(const std::string &path) {
  errno = 0;
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return fail_errno(errno ? errno : ENOENT, "read {}", path);
  return line;
}

Result<perf_event_attr> pmu_event_attr(const std::string &pmu, bool retprobe) {
  const std::string dir = "/sys/bus/event_source/devices/" + pmu;
  auto type_line = read_first_line(dir + "/type");
  if (!type_line) return fail_errno(ENOTSUP, "no {} PMU in this kernel ({})", pmu, type_line.error().message);
  const auto type = parse_u64(*type_line);
  if (!type || *type > UINT32_MAX) return fail_errno(ENOTSUP, "{}/type reads '{}', not a PMU type", dir, *type_line);
  perf_event_attr attr{};
  attr.type = static_cast<uint32_t>(*type);
  attr.size = sizeof attr;
  if (retprobe) {
    // format/retprobe reads "config:N": the bit of config that selects a return probe.
    auto bit_line = read_first_line(dir + "/format/retprobe");
    const auto bit = bit_line && bit_line->starts_with("config:") ? parse_u64(std::string_view(*bit_line).substr(7))
                                                                   : std::nullopt;
    if (!bit || *bit > 63) return fail_errno(ENOTSUP, "the {} PMU has no retprobe bit ({}/format/retprobe)", pmu, dir);
    attr.config |= uint64_t{1} << *bit;
  }
  return attr;
}

Result<uint64_t> tracepoint_id(const std::string &tracepoint) {
  for (const char *base : {"/sys/kernel/tracing/events/", "/sys/kernel/debug/tracing/events/"}) {
    auto line = read_first_line(base + tracepoint + "/id");
    if (!line) continue;
    if (auto id = parse_u64(*line)) return *id;
    return fail_errno(EINVAL, "{}{}/id reads '{}', not a tracepoint id", base, tracepoint, *line);
  }
  return fail_errno(ENOENT, "tracepoint {} (no events/{}/id in tracefs)", tracepoint, tracepoint);
}

long perf_event_open(perf_event_attr *attr, pid_t pid, int cpu) {
  return ::syscall(__NR_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

}  // namespace bpfrec
