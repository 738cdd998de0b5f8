// Independent kernel checks through the tools an operator would use (bpftool, tc), plus the
// TCX query bpftool 7.1 cannot make. Each call forks; for fast polling see kernel_view.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/common.h"

namespace it {

/// Id of the program pinned at path (`bpftool -j prog show pinned`), nullopt if none.
std::optional<std::uint32_t> pinned_prog_id(const std::string& path);
/// `bpftool -j map show pinned` of the map pinned at path, nullopt if none.
std::optional<json> pinned_map_info(const std::string& path);
/// `bpftool -j link show pinned` of the link pinned at path, nullopt if none.
std::optional<json> pinned_link_info(const std::string& path);
/// The program's `bpftool -j prog show id N` document, nullopt when no such program exists.
std::optional<json> prog_info(std::uint32_t id);
/// Whether `bpftool -j prog show` (all programs) lists this id.
bool prog_listed(std::uint32_t id);
/// Which processes hold a file descriptor of program `id` ("pid(comm) x N, ..."), from
/// /proc/*/fdinfo; for failure messages when a program that should be gone is still loaded.
std::string prog_holders(std::uint32_t id);
/// Sum over all keys and CPUs of the first u64 of each value of a (per-CPU) map pinned at path,
/// from bpftool's raw hex bytes. nullopt when the dump failed.
std::optional<std::uint64_t> sum_first_u64(const std::string& map_pin);
/// `bpftool -j link show` (all links).
json all_links();
/// Links (from all_links) whose prog_id is `prog_id`.
std::vector<json> links_of_prog(std::uint32_t prog_id);
/// `bpftool -j net show dev IF` inside the netns: the first (only) element.
json net_show(const std::string& ns, const std::string& ifname);
/// Program ids in net_show(...)["xdp"].
std::vector<std::uint32_t> xdp_prog_ids(const std::string& ns, const std::string& ifname);
/// XDP mode reported by bpftool ("generic", "driver", ...) for prog id on the interface.
std::string xdp_mode(const std::string& ns, const std::string& ifname);
/// Program ids attached via TCX, asked from the kernel with BPF_PROG_QUERY (bpftool 7.1 cannot
/// show TCX). nullopt when the query itself failed (kernel without TCX).
std::optional<std::vector<std::uint32_t>> tcx_prog_ids(const std::string& ns,
                                                       const std::string& ifname, bool ingress);
/// `tc -j filter show dev IF ingress|egress`: the filters whose kind is bpf.
std::vector<json> cls_bpf_filters(const std::string& ns, const std::string& ifname, bool ingress);
/// Whether a clsact qdisc exists on the interface.
bool has_clsact(const std::string& ns, const std::string& ifname);
/// counts[index] of the ARRAY map pinned at path; handles bpftool's BTF-formatted and raw hex
/// output. nullopt when the dump failed.
std::optional<std::uint64_t> read_counter(const std::string& map_pin, std::uint32_t index);
/// The raw bytes of value of key 0 of map id (bpftool -j map dump id).
std::optional<std::vector<std::uint8_t>> map_value_bytes(std::uint32_t map_id);

}  // namespace it
