// SPDX-License-Identifier: GPL-2.0
/* Cgroup counters: packets and bytes in and out of the sockets of a cgroup (cgroup_skb), and the
 * sockets its processes create (cgroup_sock). Every program allows what it sees (returns 1). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("cgroup_skb/ingress")
int cgroup_skb_ingress_count(struct __sk_buff *skb)
{
	count_event(skb->len);
	return 1;
}

SEC("cgroup_skb/egress")
int cgroup_skb_egress_count(struct __sk_buff *skb)
{
	count_event(skb->len);
	return 1;
}

SEC("cgroup/sock_create")
int cgroup_sock_create_count(struct bpf_sock *sk)
{
	count_event(0);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
