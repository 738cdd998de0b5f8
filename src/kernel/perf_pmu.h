// perf events for the probe attach points: the dynamic PMUs of kprobes and uprobes
// (/sys/bus/event_source/devices/{kprobe,uprobe}, Linux 4.17), tracepoint ids from tracefs, and
// perf_event_open(2) itself. attach.cpp (tracepoint, uprobe) and attach_tracing.cpp (kprobe)
// use them.
#pragma once

#include <linux/perf_event.h>
#include <sys/types.h>

#include <string>

#include "util/result.h"

namespace bpfrec {

/// The first line of the text file at `path`, without its newline. Errors: the file cannot be
/// opened or is empty (errno, or ENOENT).
Result<std::string> read_first_line(const std::string &path);

/// A perf_event_attr for the dynamic PMU `pmu` ("kprobe" or "uprobe"): `type` from
/// <devices>/<pmu>/type and, for a return probe, the config bit named by format/retprobe
/// ("config:N", perf_event_open(2)). The caller sets config1/config2. Errors: ENOTSUP when the
/// kernel has no such PMU, or no (or an unreadable) retprobe bit.
Result<perf_event_attr> pmu_event_attr(const std::string &pmu, bool retprobe);

/// A tracepoint's id (tracefs events/<category>/<name>/id, under /sys/kernel/tracing or
/// /sys/kernel/debug/tracing). Errors: ENOENT when no tracefs has it; EINVAL when it is no number.
Result<uint64_t> tracepoint_id(const std::string &tracepoint);

/// perf_event_open(2) with PERF_FLAG_FD_CLOEXEC: a perf event fd, or -1 with errno set.
long perf_event_open(perf_event_attr *attr, pid_t pid, int cpu);

}  // namespace bpfrec
