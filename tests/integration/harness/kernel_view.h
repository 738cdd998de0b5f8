// Raw bpf(2) and rtnetlink views of the kernel: pins, programs, maps, links and the XDP/TCX
// hooks, fast enough to poll every millisecond (no fork).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace it {

/// Id of the program pinned at path (BPF_OBJ_GET + BPF_OBJ_GET_INFO_BY_FD), nullopt if none.
std::optional<std::uint32_t> raw_pinned_prog_id(const std::string& path);
/// Id of the map pinned at path, nullopt if none.
std::optional<std::uint32_t> raw_pinned_map_id(const std::string& path);
/// A BPF link as BPF_OBJ_GET_INFO_BY_FD reports it.
struct RawLink {
  std::uint32_t id = 0;
  std::uint32_t prog_id = 0;
  std::uint32_t type = 0;  ///< BPF_LINK_TYPE_* (7 perf_event, 11 tcx)
};
/// The link pinned at path, nullopt if none.
std::optional<RawLink> raw_pinned_link(const std::string& path);
/// A loaded program as BPF_OBJ_GET_INFO_BY_FD reports it.
struct RawProg {
  std::uint32_t id = 0;
  std::string name;  ///< as the kernel has it: at most 15 characters
  std::vector<std::uint32_t> map_ids;
  std::string tag;  ///< the kernel's tag (hash of the instructions), 16 hex digits
};
/// The program with this id, nullopt when the kernel has none.
std::optional<RawProg> raw_prog(std::uint32_t id);
/// Every program loaded in the kernel (BPF_PROG_GET_NEXT_ID) whose kernel name is one of `names`
/// (compare with the 15-character kernel name).
std::vector<RawProg> kernel_progs_named(const std::vector<std::string>& names);
/// The value of key 0 of the map pinned at path (BPF_MAP_LOOKUP_ELEM), nullopt on failure.
std::optional<std::vector<std::uint8_t>> raw_map_value0(const std::string& map_pin);
/// Little-endian u32 at the start of the value of key 0 (e.g. sample_every in a .rodata pin).
std::optional<std::uint32_t> raw_map_u32(const std::string& map_pin);
/// Program ids on the XDP hook of ifindex, asked with RTM_GETLINK on the rtnetlink socket nl
/// (the interface is looked up in the netns the socket was made in); nullopt when it failed.
std::optional<std::vector<std::uint32_t>> xdp_ids_nl(int nl, unsigned ifindex);
/// Program ids on the TCX hook of ifindex in the calling thread's netns (BPF_PROG_QUERY);
/// nullopt when the query failed (kernel without TCX, no such interface).
std::optional<std::vector<std::uint32_t>> tcx_ids_here(unsigned ifindex, bool ingress);
/// Program ids on the XDP hook of ifname inside netns ns, from RTM_GETLINK (IFLA_XDP);
/// nullopt when the interface does not exist (or the query failed).
std::optional<std::vector<std::uint32_t>> xdp_ids_netlink(const std::string& ns, const std::string& ifname);

}  // namespace it
