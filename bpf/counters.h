/* Shared layout of the example counters: one ARRAY map "counts" with two u64 slots, so that
 * `bpftool map dump pinned <pin-root>/<program>/maps/counts` shows plain numbers. */
#pragma once

#define COUNT_EVENTS 0 /* packets or calls seen (after sampling) */
#define COUNT_BYTES 1  /* bytes, for packet programs */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* Overridable through the manifest's global_data: count one event in `sample_every`. */
const volatile __u32 sample_every = 1;

__u64 seen; /* .bss: every event, before sampling */

static __always_inline void count_event(__u64 bytes)
{
	__u64 n = __sync_fetch_and_add(&seen, 1);
	if (sample_every > 1 && n % sample_every)
		return;
	__u32 k = COUNT_EVENTS;
	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	k = COUNT_BYTES;
	v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, bytes);
}
