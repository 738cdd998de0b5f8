#include "reconcile/proceed_on.h"

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bpfrec {
namespace {

struct TcName {
  const char *name;
  int code;
};
// bpfman's TC proceed-on names and their TC action codes (linux/pkt_cls.h; dispatcher_return
// is the code an empty dispatcher slot returns).
constexpr TcName kTcNames[] = {{"unspec", -1}, {"ok", 0},     {"reclassify", 1}, {"shot", 2},
                               {"pipe", 3},    {"stolen", 4}, {"queued", 5},     {"repeat", 6},
                               {"redirect", 7}, {"trap", 8},  {"dispatcher_return", 30}};

}  // namespace

uint32_t tc_proceed_on_mask(const std::vector<std::string> &names) {
  uint32_t mask = 0;
  for (const auto &n : names)
    for (const auto &t : kTcNames)
      if (n == t.name) mask |= 1u << static_cast<unsigned>(t.code + 1);
  return mask;
}

Result<void> check_tc_proceed_on(Mechanism m, const std::string &manifest, const AttachSpec &a) {
  const NetIfAttach *n = a.netif();
  if (!n || !n->proceed_on_explicit || m == Mechanism::TcDispatcher) return {};
  std::set<std::string> want(n->proceed_on.begin(), n->proceed_on.end());
  want.erase("dispatcher_return");  // no dispatcher: an empty slot's code never happens
  std::set<std::string> honoured;
  std::string rule;
  if (m == Mechanism::Tcx) {
    honoured = {"unspec"};
    rule = "TCX runs the next program only after TCX_NEXT (unspec) and stops after any other code";
  } else if (m == Mechanism::Tc) {
    honoured = {"unspec", "reclassify", "pipe", "queued", "repeat"};
    rule = "cls_bpf (direct-action) goes on to the next filter after unspec, reclassify, pipe, queued and repeat "
           "and stops after ok, shot, stolen, redirect and trap";
  } else {
    return {};
  }
  if (want == honoured) return {};
  return fail("{}:{}:{}: error: proceed_on [{}] cannot be honoured by the {} mechanism on {}: {}; use proceed_on = "
              "[\"{}\"], leave proceed_on out, or use a kernel where the TC dispatcher works (freplace)",
              manifest, a.pos.line, a.pos.column, fmt::join(n->proceed_on, ", "), to_string(m),
              a.target_label(ProgramType::Tc), rule, fmt::join(honoured, "\", \""));
}

}  // namespace bpfrec
