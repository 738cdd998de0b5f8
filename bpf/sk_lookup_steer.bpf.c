// SPDX-License-Identifier: GPL-2.0
/* sk_lookup steering: TCP connections to port STEER_FROM_PORT in the program's network namespace
 * are given to the socket in slot 0 of the SOCKMAP `steer_to` (a listener on another port), and
 * counted; everything else goes on to the kernel's own socket lookup. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

#define STEER_FROM_PORT 7007 /* host byte order, as ctx->local_port has it */

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} steer_to SEC(".maps");

SEC("sk_lookup")
int sk_lookup_steer(struct bpf_sk_lookup *ctx)
{
	if (ctx->protocol != IPPROTO_TCP || ctx->local_port != STEER_FROM_PORT)
		return SK_PASS;
	__u32 k = 0;
	struct bpf_sock *sk = bpf_map_lookup_elem(&steer_to, &k);
	if (!sk)
		return SK_PASS; /* no listener inserted yet: the kernel decides (refused) */
	long err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (!err)
		count_event(0);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
