// SPDX-License-Identifier: GPL-2.0
/* A variant of tracepoint_counter for tests: the same function name and maps, other
 * instructions (it also counts one "byte" an event), so the kernel gives it another tag. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("tracepoint")
int tracepoint_count(void *ctx)
{
	count_event(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
