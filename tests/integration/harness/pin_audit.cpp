#include "harness/pin_audit.h"

#include <algorithm>
#include <exception>

#include "harness/files.h"
#include "harness/internal.h"
#include "harness/kernel_tools.h"
#include "harness/kernel_view.h"
#include "harness/process.h"

namespace it {

using detail::ids_text;

std::vector<std::string> check_pin_root_exact(const std::string& pin_root,
                                              const std::vector<ExpectedProgram>& expected,
                                              const std::vector<std::string>& kernel_names,
                                              std::chrono::milliseconds settle) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& p) { problems.push_back(p); };

  // 1. Exactly the expected directories under the pin root (hidden or staging names included).
  std::vector<std::string> want_dirs;
  for (const auto& e : expected) want_dirs.push_back(e.name);
  std::sort(want_dirs.begin(), want_dirs.end());
  const auto have_dirs = list_dir(pin_root);
  for (const auto& d : have_dirs)
    if (!std::binary_search(want_dirs.begin(), want_dirs.end(), d))
      problem("unexpected entry under the pin root: " + d + " (contains: " +
              json(list_tree(pin_root + "/" + d)).dump() + ")");
  for (const auto& d : want_dirs)
    if (!std::binary_search(have_dirs.begin(), have_dirs.end(), d)) problem("missing program dir " + d);

  // 2. Each program: pins, maps, links, hooks.
  json links;
  try {
    links = all_links();
  } catch (const std::exception& ex) {
    problem(ex.what());
  }
  auto bpftool_lists_link = [&](std::uint32_t id) {
    if (!links.is_array()) return false;
    for (const auto& l : links)
      if (l.value("id", 0u) == id) return true;
    return false;
  };
  std::vector<std::uint32_t> pinned_ids;
  for (const auto& e : expected) {
    const std::string dir = pin_root + "/" + e.name;
    if (!path_exists(dir)) continue;
    const auto entries = list_dir(dir);
    const std::vector<std::string> want_entries = {"links", "maps", "prog", "record"};
    if (entries != want_entries)
      problem(e.name + ": entries " + json(entries).dump() + ", expected " + json(want_entries).dump());
    const auto id = raw_pinned_prog_id(dir + "/prog");
    if (!id) {
      problem(e.name + ": no live program pinned at prog");
      continue;
    }
    pinned_ids.push_back(*id);
    const auto prog = raw_prog(*id);
    if (!prog) {
      problem(e.name + ": program " + std::to_string(*id) + " vanished");
      continue;
    }
    // Maps: every pin is one of the program's maps, every map of the program is pinned.
    std::vector<std::uint32_t> map_pin_ids;
    for (const auto& m : list_dir(dir + "/maps")) {
      const auto mid = raw_pinned_map_id(dir + "/maps/" + m);
      if (!mid) {
        problem(e.name + ": maps/" + m + " is not a live map");
        continue;
      }
      if (std::find(prog->map_ids.begin(), prog->map_ids.end(), *mid) == prog->map_ids.end())
        problem(e.name + ": maps/" + m + " (map " + std::to_string(*mid) + ") is not a map of program " +
                std::to_string(*id));
      map_pin_ids.push_back(*mid);
      if (e.sample_every && m.size() > 7 && m.ends_with("_rodata")) {
        const auto v = raw_map_u32(dir + "/maps/" + m);
        if (v != e.sample_every)
          problem(e.name + ": sample_every in " + m + " is " + (v ? std::to_string(*v) : "unreadable") +
                  ", expected " + std::to_string(*e.sample_every));
      }
    }
    for (const auto mid : prog->map_ids)
      if (std::find(map_pin_ids.begin(), map_pin_ids.end(), mid) == map_pin_ids.end())
        problem(e.name + ": map " + std::to_string(mid) + " of program " + std::to_string(*id) + " is not pinned");
    // Links.
    const auto link_pins = list_dir(dir + "/links");
    const std::size_t want_links = e.kind == ExpectedProgram::Xdp ? 0 : e.link_pins;
    if (link_pins.size() != want_links)
      problem(e.name + ": " + std::to_string(link_pins.size()) + " link pins " + json(link_pins).dump() +
              ", expected " + std::to_string(want_links));
    for (const auto& l : link_pins) {
      const auto link = raw_pinned_link(dir + "/links/" + l);
      if (!link) {
        problem(e.name + ": links/" + l + " is not a live link");
        continue;
      }
      if (link->prog_id != *id)
        problem(e.name + ": links/" + l + " (link " + std::to_string(link->id) + ") runs program " +
                std::to_string(link->prog_id) + ", the pinned program is " + std::to_string(*id));
      if (!bpftool_lists_link(link->id))
        problem(e.name + ": bpftool link show does not list link " + std::to_string(link->id));
    }
    // Hooks.
    if (e.kind == ExpectedProgram::Xdp) {
      const auto ids = xdp_ids_netlink(e.ns, e.ifname);
      if (!ids || *ids != std::vector<std::uint32_t>{*id})
        problem(e.name + ": XDP hook of " + e.ifname + " holds " + ids_text(ids) + ", expected [" +
                std::to_string(*id) + "]");
    } else if (e.kind == ExpectedProgram::Tcx) {
      const auto ids = tcx_prog_ids(e.ns, e.ifname, e.ingress);
      if (!ids || std::count(ids->begin(), ids->end(), *id) != 1)
        problem(e.name + ": TCX hook of " + e.ifname + " holds " + ids_text(ids) + ", expected " +
                std::to_string(*id) + " once");
    }
  }
  {
    auto sorted = pinned_ids;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      problem("the same program id is pinned for two programs: " + json(sorted).dump());
  }

  // 3. The kernel's programs with our names are exactly the pinned ones (deferred frees settle).
  if (kernel_names.empty()) return problems;
  std::vector<std::uint32_t> extra;
  std::vector<std::uint32_t> missing;
  wait_until(
      [&] {
        extra.clear();
        missing.clear();
        std::vector<std::uint32_t> loaded;
        for (const auto& p : kernel_progs_named(kernel_names)) loaded.push_back(p.id);
        for (const auto id : loaded)
          if (std::find(pinned_ids.begin(), pinned_ids.end(), id) == pinned_ids.end()) extra.push_back(id);
        for (const auto id : pinned_ids)
          if (std::find(loaded.begin(), loaded.end(), id) == loaded.end()) missing.push_back(id);
        return extra.empty() && missing.empty();
      },
      settle, 20ms);
  for (const auto id : extra) {
    std::string attached;
    for (const auto& l : links.is_array() ? links : json::array())
      if (l.value("prog_id", 0u) == id) attached += " link " + std::to_string(l.value("id", 0u));
    problem("program " + std::to_string(id) + " (" + (raw_prog(id) ? raw_prog(id)->name : "?") +
            ") is loaded but not pinned under the pin root (leak);" + attached + " " + prog_holders(id));
  }
  for (const auto id : missing) problem("pinned program " + std::to_string(id) + " not listed by the kernel");
  return problems;
}

}  // namespace it
