// SPDX-License-Identifier: GPL-2.0
/* XDP counter with a configurable verdict, for shared-hook tests: counts packets like
 * xdp_counter, then returns `verdict` (global_data; default XDP_PASS = 2, XDP_DROP = 1). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

const volatile __u32 verdict = XDP_PASS;

SEC("xdp")
int xdp_verdict(struct xdp_md *ctx)
{
	count_event(ctx->data_end - ctx->data);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
