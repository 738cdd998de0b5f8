// SPDX-License-Identifier: GPL-2.0
/* Tracepoint counter: counts hits of whatever tracepoint the manifest attaches it to. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("tracepoint")
int tracepoint_count(void *ctx)
{
	count_event(0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
