// SPDX-License-Identifier: GPL-2.0
/* TC test program: counts like tc_counter, then returns `verdict` (a global_data knob, default
 * TC_ACT_UNSPEC). Returning TC_ACT_SHOT (2) shows which programs run after it: none that are
 * chained behind it count the packet. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

const volatile __s32 verdict = TC_ACT_UNSPEC;

SEC("tc")
int tc_verdict(struct __sk_buff *skb)
{
	count_event(skb->len);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
