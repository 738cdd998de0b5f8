// SPDX-License-Identifier: GPL-2.0
/* Feature probe, embedded in the daemon: can this kernel load and link a BPF_PROG_TYPE_EXT
 * (freplace) program? libxdp's multi-program dispatcher and our TC dispatcher both need it.
 * `probe_target` is loaded as XDP; `probe_ext` is then loaded as EXT replacing its global
 * function `probe_slot`, exactly as a dispatcher slot is replaced. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int probe_slot(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex ? XDP_PASS : XDP_ABORTED;
}

SEC("xdp")
int probe_target(struct xdp_md *ctx)
{
	return probe_slot(ctx);
}

SEC("freplace/probe_slot")
int probe_ext(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
