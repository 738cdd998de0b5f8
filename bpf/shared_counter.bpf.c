// SPDX-License-Identifier: GPL-2.0
/* Two tracepoint programs of one object sharing a LIBBPF_PIN_BY_NAME map (issue 10, point 2),
 * the way bpfman's objects share maps: `shared_counts` is one map for every program of a map
 * group. Each program adds `step` (slot 3, written by tools; 0 counts as 1) to slot 0 (all
 * events) and to its own slot (1: count_a, 2: count_b), and counts its events in `own_counts`,
 * a map without the flag (one per program). Built twice: SHARED_MAX_ENTRIES 4 (shared_counter)
 * and 8 (shared_counter_big, an incompatible definition of the same map). Tests only. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef SHARED_MAX_ENTRIES
#define SHARED_MAX_ENTRIES 4
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SHARED_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} own_counts SEC(".maps");

static __always_inline void add(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&shared_counts, &slot);
	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void count(__u32 mine)
{
	__u32 k = 3;
	__u64 step = 1;
	__u64 *s = bpf_map_lookup_elem(&shared_counts, &k);
	if (s && *s)
		step = *s;
	add(0, step);
	add(mine, step);
	k = 0;
	__u64 *o = bpf_map_lookup_elem(&own_counts, &k);
	if (o)
		__sync_fetch_and_add(o, 1);
}

SEC("tracepoint")
int count_a(void *ctx)
{
	count(1);
	return 0;
}

SEC("tracepoint")
int count_b(void *ctx)
{
	count(2);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
