// SPDX-License-Identifier: GPL-2.0
/* cgroup_sock_addr test program: connect() of a cgroup's IPv4 sockets to 127.0.0.1:from_port
 * goes to 127.0.0.1:to_port instead (both set through the manifest's global_data; 0 rewrites
 * nothing). counts[0] counts the connects it rewrote. Every connect is allowed (returns 1). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "counters.h"

const volatile __u16 from_port = 0; /* host byte order */
const volatile __u16 to_port = 0;

SEC("cgroup/connect4")
int connect4_rewrite(struct bpf_sock_addr *ctx)
{
	if (from_port == 0 || ctx->user_ip4 != bpf_htonl(0x7f000001))
		return 1;
	if (ctx->user_port != bpf_htons(from_port))
		return 1;
	ctx->user_port = bpf_htons(to_port);
	count_event(0);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
