// SPDX-License-Identifier: GPL-2.0
/* bpfman's section spellings, which libbpf 1.1.2 infers no program type from (classifier/<name>,
 * xdp/<name>) or infers one that the manifest's type refines (kprobe/ declared kretprobe,
 * uprobe/ declared uretprobe): the manifest's `type` decides, as bpfman's load type does.
 * Every program counts into `counts` (counters.h) and passes the packet on. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("classifier/legacy_tc")
int legacy_tc(struct __sk_buff *skb)
{
	count_event(skb->len);
	return TC_ACT_UNSPEC;
}

SEC("xdp/legacy_xdp")
int legacy_xdp(struct xdp_md *ctx)
{
	count_event(ctx->data_end - ctx->data);
	return XDP_PASS;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int legacy_tracepoint(void *ctx)
{
	count_event(0);
	return 0;
}

SEC("uprobe/legacy_uprobe")
int legacy_uprobe(void *ctx)
{
	count_event(0);
	return 0;
}

SEC("kprobe/legacy_kprobe")
int legacy_kprobe(void *ctx)
{
	count_event(0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
