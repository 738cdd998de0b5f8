#include "reconcile/identity.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <variant>

#include <fmt/format.h>

#include "reconcile/state.h"
#include "types/type.h"
#include "util/sha256.h"

namespace bpfrec {
namespace {

// sha256_hex() of the short canonical texts below, remembered: a reconcile asks for the same
// keys and digests of every program several times (plan, status, backoff), and each call set
// up OpenSSL's digest anew; that was a sixth of a no-op reconcile at 500 programs. Bounded:
// forgotten all at once past kMemoEntries (a node's programs and attach points fit many times).
std::string memo_sha256(const std::string &text) {
  constexpr size_t kMemoEntries = 1 << 15;
  static std::mutex mu;
  static std::unordered_map<std::string, std::string> memo;
  std::lock_guard lock(mu);
  if (auto it = memo.find(text); it != memo.end()) return it->second;
  if (memo.size() >= kMemoEntries) memo.clear();
  return memo.emplace(text, sha256_hex(text)).first->second;
}

}  // namespace

std::string program_digest(const ProgramSpec &p) {
  std::string s = fmt::format("v1\ntype={}\nfn={}\nbytecode={}\n", to_string(p.type), p.bpf_function, p.bytecode_digest);
  // fentry/fexit/lsm: the kernel function (hook) is bound at load (attach_btf_id), so it is part
  // of the program. Only for those types, so that digests of programs pinned before stay the same.
  if (target_fixed_at_load(p.type) && !p.attach.empty())
    s += fmt::format("load_target={}\n", descriptor(p.type).load_target(p.attach[0]));
  // The map group decides which shared maps the program is loaded with. Only when the manifest
  // names it: a default group (the manifest's name) is not, so digests of programs pinned
  // before map_group existed stay the same, and renaming a file replaces nothing.
  if (p.map_group_explicit) s += fmt::format("map_group={}\n", p.map_group);
  if (!p.map_owner.empty()) s += fmt::format("map_owner={}\n", p.map_owner);
  // global_data is a TOML table: its order in the file carries no meaning.
  std::vector<const GlobalValue *> globals;
  for (auto &g : p.global_data) globals.push_back(&g);
  std::sort(globals.begin(), globals.end(), [](auto *a, auto *b) { return a->name < b->name; });
  for (const GlobalValue *gp : globals) {
    const GlobalValue &g = *gp;
    if (auto *i = std::get_if<int64_t>(&g.value)) s += fmt::format("g:{}=i{}\n", g.name, *i);
    else s += fmt::format("g:{}=x{:02x}\n", g.name, fmt::join(std::get<std::vector<uint8_t>>(g.value), ""));
  }
  return memo_sha256(s);
}

std::string attach_key(ProgramType t, const AttachSpec &a) { return memo_sha256(a.canonical(t)).substr(0, 16); }

std::string_view to_string(Mechanism m) {
  switch (m) {
    case Mechanism::Xdp: return "xdp";
    case Mechanism::XdpDispatcher: return "xdp_dispatcher";
    case Mechanism::Tcx: return "tcx";
    case Mechanism::Tc: return "tc";
    case Mechanism::PerfLink: return "perf_link";
    case Mechanism::Link: return "link";
    case Mechanism::TcDispatcher: return "tc_dispatcher";
  }
  return "?";
}

}  // namespace bpfrec
