// SPDX-License-Identifier: GPL-2.0
/* Kernel function counters: the same count as a kprobe, a kretprobe, an fentry and an fexit
 * program. The sections name no function: the manifest's attach `function` decides (for fentry
 * and fexit the daemon sets it as the attach target before loading). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("kprobe")
int kprobe_count(void *ctx)
{
	count_event(0);
	return 0;
}

SEC("kretprobe")
int kretprobe_count(void *ctx)
{
	count_event(0);
	return 0;
}

SEC("fentry")
int fentry_count(void *ctx)
{
	count_event(0);
	return 0;
}

SEC("fexit")
int fexit_count(void *ctx)
{
	count_event(0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
