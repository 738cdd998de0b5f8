// SPDX-License-Identifier: GPL-2.0
/* XDP packet counter: counts packets and bytes, passes everything on. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	count_event(ctx->data_end - ctx->data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
