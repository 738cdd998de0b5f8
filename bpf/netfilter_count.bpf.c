// SPDX-License-Identifier: GPL-2.0
/* netfilter counter (Linux 6.4+): counts every packet its hook sees; drops them all when the
 * manifest's global_data sets drop = 1. The context (struct bpf_nf_ctx) is not read. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

#define NF_DROP 0
#define NF_ACCEPT 1

const volatile __u32 drop = 0;

SEC("netfilter")
int netfilter_count(void *ctx)
{
	count_event(0);
	return drop ? NF_DROP : NF_ACCEPT;
}

char LICENSE[] SEC("license") = "GPL";
