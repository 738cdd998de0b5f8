// SPDX-License-Identifier: GPL-2.0
/* lsm test program: counts LSM hook calls (the manifest's `hook`; the section names file_open
 * only as a default, the daemon sets the attach target before loading) into "counts":
 * counts[0] every call, counts[1] the calls of process `target_pid` (its tgid; global_data), 0:
 * none. It always returns 0 (allow), so it never denies anything: the kernel's bpf LSM returns
 * the program's value as the hook's verdict. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

const volatile __s32 target_pid = 0;

static __always_inline void bump(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("lsm/file_open")
int lsm_count(unsigned long long *ctx)
{
	bump(0);
	if (target_pid && (__s32)(bpf_get_current_pid_tgid() >> 32) == target_pid)
		bump(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
