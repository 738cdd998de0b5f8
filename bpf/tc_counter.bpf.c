// SPDX-License-Identifier: GPL-2.0
/* TC packet counter for TCX or cls_bpf (direct action): counts packets and bytes, then returns
 * TC_ACT_UNSPEC, which both mechanisms treat as "continue with the next program". */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	count_event(skb->len);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
