// SPDX-License-Identifier: GPL-2.0
/* Raw tracepoint counter: counts hits of whatever raw tracepoint the manifest attaches it to. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("raw_tp")
int raw_tp_count(void *ctx)
{
	count_event(0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
