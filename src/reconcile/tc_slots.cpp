#include "reconcile/tc_slots.h"

#include <optional>
#include <tuple>

#include "util/sha256.h"

namespace bpfrec {
namespace {

// Rank of a name character in byte order ('-' < '0'..'9' < '_' < 'a'..'z'), 1..38; 0: no character.
uint32_t rank(const std::string &s, size_t i) {
  if (i >= s.size()) return 0;
  const char c = s[i];
  if (c == '-') return 1;
  if (c >= '0' && c <= '9') return 2 + static_cast<uint32_t>(c - '0');
  if (c == '_') return 12;
  if (c >= 'a' && c <= 'z') return 13 + static_cast<uint32_t>(c - 'a');
  return c < '-' ? 0 : 38;
}

}  // namespace

uint32_t tc_band_base(uint32_t priority) { return 1 + kTcSubSlots * priority; }

uint32_t tc_name_hint(const std::string &program) {
  constexpr uint32_t kSymbols = 39;
  const uint32_t v = rank(program, 0) * kSymbols + rank(program, 1);
  return v * kTcSubSlots / (kSymbols * kSymbols);
}

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
  const uint32_t hi = succ ? *succ : kTcSubSlots - 1;
  if (lo > hi || lo >= kTcSubSlots)
    return fail(Error{ENOSPC, fmt::format(
                      "no cls_bpf filter preference left at priority {} between {} and {} ({} per priority and "
                      "hook); give some of them another priority",
                      priority, pred ? pred_name : "the start", succ ? succ_name : "the end", kTcSubSlots)});
  uint32_t s;
  if (const uint32_t hi_free = succ ? *succ : kTcSubSlots; lo < hi_free) {
    // A free preference between the neighbours: the name's hint when it falls there (programs
    // applied in name order then spread over the band), else the middle of the gap.
    const uint32_t last = hi_free - 1, hint = tc_name_hint(program);
    s = hint >= lo && hint <= last ? hint : lo + (last - lo) / 2;
  } else {
    s = *succ;  // share the next one's preference: the newest runs first, so just before it
  }
  const std::string digest = sha256_hex(program + "\n" + key);
  uint32_t h = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = digest[static_cast<size_t>(i)];
    h = h << 4 | static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  TcSlot slot{base + s, next_free_tc_handle(h, taken)};
  if (slot.handle == 0) return fail(Error{ENOSPC, "no cls_bpf filter handle left"});
  return slot;
}

}  // namespace bpfrec
