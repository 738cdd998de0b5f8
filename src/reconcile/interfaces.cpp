#include "reconcile/interfaces.h"

#include <fnmatch.h>

#include <algorithm>

#include <fmt/format.h>

#include "manifest/interface_pattern.h"
#include "reconcile/identity.h"

namespace bpfrec {
namespace {

std::string in_netns(const std::string &netns) { return netns.empty() ? "" : fmt::format(" in netns {}", netns); }

// Identifies a pattern attach point of a program: given the pattern itself, or a concrete
// attach point made from it.
std::string pattern_id(const std::string &program, ProgramType type, const AttachSpec &a) {
  if (a.netif_or_none().interface_pattern.empty()) return program + '\n' + a.canonical(type);
  AttachSpec p = a;
  NetIfAttach &n = *p.netif();
  n.interface = std::move(n.interface_pattern);
  n.interface_pattern.clear();
  return program + '\n' + p.canonical(type);
}

bool has_interface(const NetnsInterfaces &ns, const std::string &name) {
  return std::any_of(ns.interfaces.begin(), ns.interfaces.end(), [&](auto &e) { return e.name == name; });
}

std::string gone_message(const AttachSpec &spec, const InterfaceInventory &inventory) {
  const NetIfAttach &a = spec.netif_or_none();
  auto it = inventory.find(a.netns);
  if (it != inventory.end() && !it->second.error.empty())
    return fmt::format("interface {} went away: {}", a.interface, it->second.error);
  if (it == inventory.end() || !has_interface(it->second, a.interface))
    return fmt::format("interface {} went away", a.interface);
  if (a.interface_pattern == kPrimaryInterface)
    return fmt::format("interface {} no longer carries the default route", a.interface);
  return fmt::format("interface {} no longer matches '{}'", a.interface, a.interface_pattern);
}

}  // namespace

std::string_view to_string(PatternNote::Kind k) {
  switch (k) {
    case PatternNote::NoMatch: return "pending";
    case PatternNote::Gone: return "gone";
    case PatternNote::Failed: return "failed";
  }
  return "?";
}

std::set<std::string> pattern_netns(const DesiredState &desired, bool primary_only) {
  std::set<std::string> out;
  for (auto &p : desired.programs) {
    if (!is_network_type(p.type)) continue;
    for (auto &a : p.attach) {
      const NetIfAttach &n = a.netif_or_none();
      const auto sel = interface_selector(n.interface);
      if (sel == InterfaceSelector::Primary || (!primary_only && sel == InterfaceSelector::Glob)) out.insert(n.netns);
    }
  }
  return out;
}

std::vector<PatternNote> expand_interfaces(DesiredState &desired, const InterfaceInventory &inventory) {
  std::vector<PatternNote> notes;
  for (auto &p : desired.programs) {
    if (!is_network_type(p.type)) continue;
    if (std::none_of(p.attach.begin(), p.attach.end(),
                     [](auto &a) { return is_interface_pattern(a.netif_or_none().interface); }))
      continue;
    // Literal names claim their hooks first: "eth0" and "eth*" with the same settings are one
    // attachment, reported as the literal one.
    std::set<std::string> keys;
    for (auto &a : p.attach)
      if (!is_interface_pattern(a.netif_or_none().interface)) keys.insert(attach_key(p.type, a));
    std::vector<AttachSpec> out;
    for (auto &spec : p.attach) {
      const NetIfAttach &a = spec.netif_or_none();
      const auto sel = interface_selector(a.interface);
      if (sel == InterfaceSelector::Name) {
        out.push_back(spec);
        continue;
      }
      PatternNote note{PatternNote::NoMatch, p.name, p.type, spec, ""};
      auto ns = inventory.find(a.netns);
      if (ns == inventory.end() || !ns->second.error.empty()) {
        note.kind = PatternNote::Failed;
        note.message = ns == inventory.end()
                           ? fmt::format("the interfaces{} were not listed", in_netns(a.netns))
                           : fmt::format("cannot list the interfaces{}: {}", in_netns(a.netns), ns->second.error);
        notes.push_back(std::move(note));
        continue;
      }
      std::vector<std::string> names;
      if (sel == InterfaceSelector::Primary) {
        if (!ns->second.primary.empty()) names.push_back(ns->second.primary);
      } else {
        for (auto &e : ns->second.interfaces)
          if (!e.loopback && ::fnmatch(a.interface.c_str(), e.name.c_str(), 0) == 0) names.push_back(e.name);
      }
      if (names.empty()) {
        note.message = sel == InterfaceSelector::Primary
                           ? std::string("no interface carries a default route")
                           : fmt::format("no interface matches '{}'", a.interface);
        notes.push_back(std::move(note));
        continue;
      }
      std::sort(names.begin(), names.end());
      for (auto &n : names) {
        AttachSpec c = spec;
        c.netif()->interface = n;
        c.netif()->interface_pattern = a.interface;
        if (keys.insert(attach_key(p.type, c)).second) out.push_back(std::move(c));
      }
    }
    p.attach = std::move(out);
  }
  return notes;
}

std::vector<PatternNote> VanishedInterfaces::update(const DesiredState &expanded, const std::vector<PatternNote> &notes,
                                                    const InterfaceInventory &inventory) {
  std::map<std::string, Produced> now;
  std::set<std::string> alive;                          // pattern ids still in the manifests
  std::set<std::pair<std::string, std::string>> wanted;  // (program, attach key) desired now
  for (auto &p : expanded.programs) {
    if (!is_network_type(p.type)) continue;
    for (auto &a : p.attach) {
      const std::string key = attach_key(p.type, a);
      wanted.emplace(p.name, key);
      if (a.netif_or_none().interface_pattern.empty()) continue;
      const std::string id = pattern_id(p.name, p.type, a);
      auto &produced = now[id];
      produced.program = p.name;
      produced.type = p.type;
      produced.by_key[key] = a;
      alive.insert(id);
    }
  }
  for (auto &n : notes)
    if (n.kind != PatternNote::Gone) alive.insert(pattern_id(n.program, n.type, n.spec));

  std::vector<PatternNote> fresh;
  for (auto &[id, before] : previous_) {
    if (!alive.contains(id)) continue;  // the pattern attach point itself was removed or changed
    auto it = now.find(id);
    for (auto &[key, spec] : before.by_key) {
      if (it != now.end() && it->second.by_key.contains(key)) continue;
      if (wanted.contains({before.program, key})) continue;  // a literal attach point has it now
      fresh.push_back({PatternNote::Gone, before.program, before.type, spec, gone_message(spec, inventory)});
    }
  }

  // Forget what matches again, and what belongs to a pattern attach point no longer declared.
  std::erase_if(gone_, [&](const PatternNote &n) {
    return !alive.contains(pattern_id(n.program, n.type, n.spec)) ||
           wanted.contains({n.program, attach_key(n.type, n.spec)});
  });
  for (auto &n : fresh) {
    // The same interface going away twice keeps one note, the latest.
    const std::string key = attach_key(n.type, n.spec);
    std::erase_if(gone_, [&](const PatternNote &o) { return o.program == n.program && attach_key(o.type, o.spec) == key; });
    gone_.push_back(n);
  }
  std::map<std::string, size_t> kept;  // per pattern id, newest first
  for (auto it = gone_.rbegin(); it != gone_.rend();) {
    if (++kept[pattern_id(it->program, it->type, it->spec)] > kPerPattern) it = decltype(it)(gone_.erase(std::next(it).base()));
    else ++it;
  }
  previous_ = std::move(now);
  return fresh;
}

}  // namespace bpfrec
