// SPDX-License-Identifier: GPL-2.0
/* TC dispatcher, modelled on bpfman's tc_dispatcher (itself derived from libxdp's XDP
 * dispatcher): one cls_bpf (direct-action) program with TC_DISPATCHER_SLOTS __noinline stub
 * functions prog0..prog9. Each of our programs is loaded as BPF_PROG_TYPE_EXT and replaces one
 * stub through freplace; slots run in order (slot 0 = lowest priority value).
 *
 * After slot K returns code R, the dispatcher goes on with slot K+1 when bit (R + 1) of
 * config.chain_call_actions[K] is set (bpfman's encoding: TC_ACT_UNSPEC (-1) is bit 0, TC_ACT_OK
 * bit 1, ..., TC_ACT_TRAP bit 9, and dispatcher_return (30, what an empty stub returns) bit 31);
 * otherwise it returns R. When every enabled slot proceeded, it returns TC_ACT_UNSPEC, so cls_bpf
 * goes on with the next filter (somebody else's) as if we were not there.
 *
 * The configuration is a const volatile (.rodata) written by the loader before load; a changed
 * set of programs means a new dispatcher (see src/kernel/tc_dispatcher.cpp). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define TC_DISPATCHER_SLOTS 10
#define TC_DISPATCHER_RETVAL 30 /* bpfman's dispatcher_return */

struct tc_dispatcher_config {
	__u32 magic; /* TC_DISPATCHER_MAGIC: tells our dispatcher from other programs */
	__u32 num_progs_enabled;
	__u32 chain_call_actions[TC_DISPATCHER_SLOTS];
	__u32 run_prios[TC_DISPATCHER_SLOTS]; /* for bpftool/observers only */
};

const volatile struct tc_dispatcher_config config = {};

#define SLOT(n)                                                                                    \
	__attribute__((noinline)) int prog##n(struct __sk_buff *skb)                               \
	{                                                                                          \
		volatile int ret = TC_DISPATCHER_RETVAL;                                           \
		if (!skb)                                                                          \
			return TC_ACT_UNSPEC;                                                      \
		return ret;                                                                        \
	}
SLOT(0)
SLOT(1)
SLOT(2)
SLOT(3)
SLOT(4)
SLOT(5)
SLOT(6)
SLOT(7)
SLOT(8)
SLOT(9)

static __always_inline int proceeds(int ret, __u32 mask)
{
	__u32 bit = (__u32)(ret + 1);
	return bit < 32 && ((1U << bit) & mask);
}

#define RUN(n)                                                                                     \
	if (config.num_progs_enabled < n + 1)                                                      \
		goto out;                                                                          \
	ret = prog##n(skb);                                                                        \
	if (!proceeds(ret, config.chain_call_actions[n]))                                          \
		return ret;

SEC("tc")
int tc_dispatcher(struct __sk_buff *skb)
{
	int ret;

	RUN(0)
	RUN(1)
	RUN(2)
	RUN(3)
	RUN(4)
	RUN(5)
	RUN(6)
	RUN(7)
	RUN(8)
	RUN(9)
out:
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
