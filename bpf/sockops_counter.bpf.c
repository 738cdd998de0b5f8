// SPDX-License-Identifier: GPL-2.0
/* sockops test program: counts the TCP callbacks of a cgroup's sockets that the kernel makes
 * without any bpf_sock_ops_cb_flags_set(): counts[0] BPF_SOCK_OPS_TCP_CONNECT_CB (an active
 * open sends its SYN), counts[1] BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB (its SYN-ACK came),
 * counts[2] BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB (a listener's connection completed). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void bump(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("sockops")
int sockops_count(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		bump(0);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		bump(1);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bump(2);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
