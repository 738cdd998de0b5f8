#include "reconcile/tc_slots.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "util/sha256.h"

namespace bpfrec {

uint32_t tc_band_base(uint32_t priority) { return 1 + kTcSubSlots * priority; }

uint32_t next_free_tc_handle(uint32_t handle, const std::set<uint32_t> &taken) {
  for (uint32_t i = 0; i < 0x10000; ++i) {
    const uint32_t h = kTcHandleBase | ((handle + i) & 0xffffu);
    if (!taken.contains(h)) return h;
  }
  return 0;
}

Result<TcSlot> choose_tc_slot(uint32_t priority, const std::string &program, const std::string &key,
                              const std::vector<TcSlotPeer> &peers, const std::set<uint32_t> &taken) {
  const uint32_t base = tc_band_base(priority);
  const auto me = std::tie(program, key);
  std::optional<uint32_t> pred, succ;  // sub-slots of the neighbours in order
  std::string pred_name, succ_name;
  for (const auto &p : peers) {
    if (p.priority != priority || p.slot.pref < base || p.slot.pref >= base + kTcSubSlots) continue;
    const uint32_t s = p.slot.pref - base;
    const auto them = std::tie(p.program, p.key);
    if (them < me && (!pred || s >= *pred)) pred = s, pred_name = p.program;
    if (me < them && (!succ || s <= *succ)) succ = s, succ_name = p.program;
  }
  const uint32_t lo = pred ? *pred + 1 : 0;
  const uint32_t hi_free = succ ? *succ : kTcSubSlots;  // free preferences: lo..hi_free-1
  TcSlot slot;
  uint32_t s;
  if (lo > (succ ? *succ : kTcSubSlots - 1)) {
    // No preference left between the neighbours: share the previous one's (the newest runs
    // first there, so this one runs just before it: one step out of name order, but attached).
    s = *pred;
    slot.inexact = fmt::format("no cls_bpf filter preference is left between {} and {} at priority {} ({} per "
                               "priority and hook); {} runs just before {} instead of after it",
                               pred_name, succ ? succ_name : "the end of the band", priority, kTcSubSlots, program,
                               pred_name);
  } else if (lo >= hi_free) {
    s = *succ;  // none free: share the next one's preference (the newest runs first: just before it)
  } else if (pred && succ) {
    s = lo + (hi_free - 1 - lo) / 2;  // the middle of the gap
  } else if (pred) {
    // After the last: a quarter of the way to the end, leaving room for names in between.
    s = std::min(hi_free - 1, lo + std::max<uint32_t>(1, (hi_free - 1 - lo) / 4));
  } else if (succ) {
    const uint32_t last = hi_free - 1;
    s = last - std::min(last - lo, std::max<uint32_t>(1, (last - lo) / 4));
  } else {
    s = kTcSubSlots / 2;  // the first of its priority: the middle of the band
  }
  const std::string digest = sha256_hex(program + "\n" + key);
  uint32_t h = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = digest[static_cast<size_t>(i)];
    h = h << 4 | static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  slot.pref = base + s;
  slot.handle = next_free_tc_handle(h, taken);
  if (slot.handle == 0) return fail(Error{ENOSPC, "no cls_bpf filter handle left"});
  return slot;
}

}  // namespace bpfrec
