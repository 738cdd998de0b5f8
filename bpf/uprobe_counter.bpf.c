// SPDX-License-Identifier: GPL-2.0
/* Uprobe counter: counts calls of the probed user-space function (or returns, as a uretprobe). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counters.h"

SEC("uprobe")
int uprobe_count(void *ctx)
{
	count_event(0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
