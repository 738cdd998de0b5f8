// Where a cls_bpf filter of ours goes on a TC hook (the `tc` mechanism): its filter preference
// and handle. Pure (no kernel access); the kernel layer asks before attaching.
//
// tc runs filters by preference (lower first) and, within one preference, the newest first
// (cls_bpf adds to the head of its list: net/sched/cls_bpf.c cls_bpf_change(), measured with
// `tc filter show`). bpfman orders programs by priority (0..1000, lower first) and equal
// priorities by name. So every priority owns a band of kTcSubSlots preferences,
//   pref = 1 + kTcSubSlots * priority + s,   s in 0..kTcSubSlots-1
// (pref 0 would let the kernel choose one; 1 + 64 * 1000 + 63 = 64064 fits tc's 16 bits), and
// within the band s keeps our programs in (program name, attach key) order.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "util/result.h"

namespace bpfrec {

/// Preferences per priority band.
inline constexpr uint32_t kTcSubSlots = 64;
/// First handle of ours (0xb0000..0xbffff: `tc` picks small handles, 0x1.. upwards).
inline constexpr uint32_t kTcHandleBase = 0xb0000;

/// Filter preference and handle of one cls_bpf filter.
struct TcSlot {
  uint32_t pref = 0;
  uint32_t handle = 0;
  /// Non-empty when the name order could not be kept (no preference left between the
  /// neighbours): why, and where it runs instead. The filter is attached all the same.
  std::string inexact;
};

/// One cls_bpf filter of ours already on the same hook (netns, interface, direction).
struct TcSlotPeer {
  uint32_t priority = 0;
  std::string program;
  std::string key;  // attach key
  TcSlot slot;
};

/// The band's first preference for `priority` (0..1000).
uint32_t tc_band_base(uint32_t priority);

/// Chooses the preference for a new filter of (`priority`, `program`, `key`) among `peers` so
/// that our filters on the hook run in (priority, program, key) order: after the last peer that
/// sorts before it and before the first one that sorts after it; in the middle of the gap
/// between them, a quarter of the way to the band's end after the last or to its start before
/// the first, the middle of the band for the first of all; sharing the next one's preference
/// when none is free in between (within one preference the newest runs first). Every order of
/// up to 6 programs of one priority on one hook comes out exact (tests/unit/test_tc_slots.cpp),
/// 9 in name order, any number in reverse order; beyond, `inexact` says which one is off by one
/// place. Peers whose preference is outside their priority's band (records of older versions)
/// are ignored. The handle is the first one from a hash of (program, key) upwards that is not in
/// `taken` (every handle of ours, on any hook), in kTcHandleBase..kTcHandleBase+0xffff.
/// Errors: no free handle.
Result<TcSlot> choose_tc_slot(uint32_t priority, const std::string &program, const std::string &key,
                              const std::vector<TcSlotPeer> &peers, const std::set<uint32_t> &taken);

/// The next handle after `handle` that is not in `taken` (wrapping inside our range); 0 when none.
uint32_t next_free_tc_handle(uint32_t handle, const std::set<uint32_t> &taken);

}  // namespace bpfrec
