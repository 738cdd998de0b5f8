// The TC dispatcher: bpfman's design (a cls_bpf program with freplace slots) with libxdp's way
// of changing it (build a new one, then swap it in atomically). See tc_shared.h.
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "kernel/attach.h"
#include "kernel/fs.h"
#include "kernel/netns.h"
#include "kernel/tc_shared.h"
#include "util/unique_fd.h"

#include "tc_dispatcher_obj.h"  // generated: tc_dispatcher_bpf_o[], tc_dispatcher_bpf_o_len

namespace bpfrec {
namespace {

constexpr uint32_t kMagic = 0xb9f7c0de;
// An extension is linked with BPF_LINK_CREATE, attach type 0, target 0: the kernel uses the
// target given at load (bpf_tracing_prog_attach(); what libxdp does).
constexpr auto kFreplaceAttach = static_cast<bpf_attach_type>(0);

// Must match struct tc_dispatcher_config in bpf/tc_dispatcher.bpf.c.
struct DispatcherConfig {
  uint32_t magic;
  uint32_t num_progs_enabled;
  uint32_t chain_call_actions[kTcDispatcherSlots];
  uint32_t run_prios[kTcDispatcherSlots];
};

struct ObjectCloser {
  void operator()(bpf_object *o) const { bpf_object__close(o); }
};
using Object = std::unique_ptr<bpf_object, ObjectCloser>;

// Opens the embedded dispatcher object with `config` in its .rodata; only the program named
// `only` is loaded.
Result<Object> open_dispatcher(const DispatcherConfig &config) {
  DECLARE_LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tc_dispatcher");
  Object obj(bpf_object__open_mem(tc_dispatcher_bpf_o, tc_dispatcher_bpf_o_len, &opts));
  if (!obj) return fail_errno(errno, "open the embedded TC dispatcher object");
  bpf_map *m;
  bool set = false;
  bpf_object__for_each_map(m, obj.get()) {
    if (!bpf_map__is_internal(m) || !std::string_view(bpf_map__name(m)).ends_with(".rodata")) continue;
    size_t size = 0;
    if (!bpf_map__initial_value(m, &size) || size < sizeof config) return fail("TC dispatcher .rodata is too small");
    std::vector<uint8_t> data(size, 0);
    std::memcpy(data.data(), &config, sizeof config);
    if (bpf_map__set_initial_value(m, data.data(), data.size()) != 0) return fail_errno(errno, "set dispatcher config");
    set = true;
  }
  if (!set) return fail("TC dispatcher object has no .rodata");
  return obj;
}

// Loads the dispatcher program (not the probe) of an opened dispatcher object.
Result<int> load_dispatcher(bpf_object *obj) {
  bpf_program *p;
  bpf_object__for_each_program(p, obj) {
    (void)bpf_program__set_autoload(p, std::string_view(bpf_program__name(p)) == "tc_dispatcher");
  }
  if (int err = bpf_object__load(obj)) return fail_errno(err, "load the TC dispatcher");
  bpf_program *d = bpf_object__find_program_by_name(obj, "tc_dispatcher");
  return bpf_program__fd(d);
}

// Opens `m`'s object and loads its function as an extension of slot `slot` of the dispatcher
// `disp_fd`, with the maps of its pinned program. The returned object owns the program fd.
Result<Object> load_extension(const TcDispatcherMember &m, int disp_fd, unsigned slot) {
  if (m.object.empty() || m.function.empty())
    return fail("program {}: its record does not name its object and function (written by an older version); "
                "change its manifest to reload it", m.program);
  Object obj(bpf_object__open_file(m.object.c_str(), nullptr));
  if (!obj) return fail_errno(errno, "open {}", m.object);
  bpf_program *prog = nullptr;
  bpf_program *p;
  bpf_object__for_each_program(p, obj.get()) {
    const bool mine = m.function == bpf_program__name(p);
    (void)bpf_program__set_autoload(p, mine);
    if (mine) prog = p;
  }
  if (!prog) return fail("{} has no program {}", m.object, m.function);
  if (bpf_program__set_type(prog, BPF_PROG_TYPE_EXT) != 0) return fail_errno(errno, "set type EXT");
  const std::string slot_name = fmt::format("prog{}", slot);
  if (int err = bpf_program__set_attach_target(prog, disp_fd, slot_name.c_str()))
    return fail_errno(err, "freplace target {}", slot_name);
  bpf_map *map;
  bpf_object__for_each_map(map, obj.get()) {
    std::string pin_name = bpf_map__name(map);
    std::replace(pin_name.begin(), pin_name.end(), '.', '_');
    const std::string pin = PinLayout::map(m.dir, pin_name);
    UniqueFd fd(bpf_obj_get(pin.c_str()));
    if (!fd.valid()) return fail_errno(errno, "program {}: open its map pin {}", m.program, pin);
    if (int err = bpf_map__reuse_fd(map, fd.get())) return fail_errno(err, "reuse map {}", pin);
  }
  if (int err = bpf_object__load(obj.get()))
    return fail_errno(err, "load {} as an extension of dispatcher slot {}", m.program, slot_name);
  return obj;
}

bpf_tc_hook tc_hook(int ifindex, bool egress) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
  return hook;
}

// Program id of the filter at our dispatcher priority/handle, 0 when there is none.
uint32_t dispatcher_filter_prog(int ifindex, bool egress) {
  bpf_tc_hook hook = tc_hook(ifindex, egress);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcDispatcherHandle, .priority = kTcDispatcherPriority);
  return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
}

uint32_t pinned_prog_id(const std::string &pin) {
  UniqueFd fd(bpf_obj_get(pin.c_str()));
  return fd.valid() ? prog_id_of(fd.get()) : 0;
}

// <pin-root>/_dispatchers/tc-<netns inode>-<ifindex>-<direction>, in the current netns.
std::string hook_dir(const std::string &pin_root, int ifindex, bool egress) {
  struct stat st{};
  (void)::stat("/proc/thread-self/ns/net", &st);
  return fmt::format("{}/_dispatchers/tc-{}-{}-{}", pin_root, st.st_ino, ifindex, egress ? "egress" : "ingress");
}

// The generation directory ("g<N>") whose dispatcher runs on the hook now; empty when none.
std::string current_generation(const std::string &dir, uint32_t filter_prog) {
  if (filter_prog == 0) return {};
  for (const auto &g : list_dir(dir))
    if (pinned_prog_id(dir + "/" + g + "/dispatcher") == filter_prog) return g;
  return {};
}

std::string link_name(const std::string &program, const std::string &key) { return program + "-" + key; }

// Removes the dispatcher directories of this netns whose interface is gone (deleted, or
// re-created with another ifindex): their pins would keep the old dispatchers and extensions
// loaded for nothing.
void collect_dead_hooks(const std::string &pin_root) {
  struct stat st{};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return;
  const std::string prefix = fmt::format("tc-{}-", st.st_ino), base = pin_root + "/_dispatchers";
  for (const auto &d : list_dir(base)) {
    if (!d.starts_with(prefix)) continue;
    const unsigned idx = static_cast<unsigned>(std::strtoul(d.c_str() + prefix.size(), nullptr, 10));
    char name[IF_NAMESIZE];
    if (idx != 0 && if_indextoname(idx, name) == nullptr) {
      spdlog::info("TC dispatcher pins {}: interface {} is gone, removing them", d, idx);
      (void)remove_tree(base + "/" + d);
    }
  }
}

}  // namespace

std::string probe_freplace() {
  DispatcherConfig config{};
  config.magic = kMagic;
  auto obj = open_dispatcher(config);
  if (!obj) return obj.error().message;
  auto disp = load_dispatcher(obj->get());
  if (!disp) return disp.error().message;
  DECLARE_LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tc_dispatcher");
  Object ext(bpf_object__open_mem(tc_dispatcher_bpf_o, tc_dispatcher_bpf_o_len, &opts));
  if (!ext) return fmt::format("open the embedded TC dispatcher object: {}", std::strerror(errno));
  bpf_program *p;
  bpf_object__for_each_program(p, ext.get()) {
    (void)bpf_program__set_autoload(p, std::string_view(bpf_program__name(p)) == "tc_freplace_probe");
  }
  bpf_program *probe = bpf_object__find_program_by_name(ext.get(), "tc_freplace_probe");
  if (!probe) return "TC dispatcher object has no freplace probe";
  if (int err = bpf_program__set_attach_target(probe, *disp, "prog0"))
    return fmt::format("freplace target prog0: {}", std::strerror(-err));
  if (int err = bpf_object__load(ext.get())) return fmt::format("load a freplace program: {}", std::strerror(-err));
  UniqueFd link(bpf_link_create(bpf_program__fd(probe), 0, kFreplaceAttach, nullptr));
  if (!link.valid()) return fmt::format("link a freplace program: {}", std::strerror(errno));
  return {};
}

Result<std::map<std::string, uint32_t>> tc_dispatcher_sync(const std::string &pin_root, const AttachSpec &hook,
                                                           std::vector<TcDispatcherMember> members) {
  const std::string label = hook.target_label(ProgramType::Tc);
  const bool egress = hook.direction == TcDirection::Egress;
  if (members.size() > kTcDispatcherSlots)
    return fail_errno(E2BIG, "TC dispatcher on {}: {} programs, but it has {} slots", label, members.size(),
                      kTcDispatcherSlots);
  auto ns = NetnsGuard::enter(hook.netns);
  if (!ns) return std::unexpected(ns.error());
  const int ifindex = static_cast<int>(if_nametoindex(hook.interface.c_str()));
  if (ifindex == 0) return fail_errno(ENODEV, "interface {}", label);
  collect_dead_hooks(pin_root);
  const std::string dir = hook_dir(pin_root, ifindex, egress);
  const uint32_t filter_prog = dispatcher_filter_prog(ifindex, egress);
  const std::string current = current_generation(dir, filter_prog);
  if (filter_prog != 0 && current.empty()) {
    // Something at our priority/handle that is not a dispatcher we pinned: ours only if the
    // kernel names it tc_dispatcher (a pin root that was wiped), else leave it alone.
    UniqueFd fd(bpf_prog_get_fd_by_id(filter_prog));
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (!fd.valid() || bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0 || std::string(info.name) != "tc_dispatcher")
      return fail_errno(EEXIST, "TC dispatcher on {}: cls_bpf priority {} handle {:#x} holds program id {}, not ours",
                        label, kTcDispatcherPriority, kTcDispatcherHandle, filter_prog);
  }
  bpf_tc_hook tch = tc_hook(ifindex, egress);

  if (members.empty()) {
    if (filter_prog != 0) {
      DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcDispatcherHandle, .priority = kTcDispatcherPriority);
      if (int err = bpf_tc_detach(&tch, &opts); err && err != -ENOENT)
        return fail_errno(err, "remove the TC dispatcher from {}", label);
    }
    if (auto r = remove_tree(dir); !r) return std::unexpected(r.error());
    return std::map<std::string, uint32_t>{};
  }

  std::sort(members.begin(), members.end(), [](const auto &x, const auto &y) {
    return std::tie(x.priority, x.program, x.key) < std::tie(y.priority, y.program, y.key);
  });
  DispatcherConfig config{};
  config.magic = kMagic;
  config.num_progs_enabled = static_cast<uint32_t>(members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    config.chain_call_actions[i] = tc_proceed_on_mask(members[i].proceed_on);
    config.run_prios[i] = members[i].priority;
  }
  auto obj = open_dispatcher(config);
  if (!obj) return std::unexpected(obj.error());
  auto disp = load_dispatcher(obj->get());
  if (!disp) return std::unexpected(disp.error());

  unsigned next = 0;
  for (const auto &g : list_dir(dir))
    if (g.size() > 1 && g[0] == 'g') next = std::max(next, static_cast<unsigned>(std::stoul(g.substr(1))) + 1);
  const std::string gen = fmt::format("g{}", next), gen_dir = dir + "/" + gen;
  (void)remove_tree(gen_dir);
  if (auto r = make_dirs(gen_dir); !r) return std::unexpected(r.error());
  auto fail_gen = [&](Error e) -> Result<std::map<std::string, uint32_t>> {
    (void)remove_tree(gen_dir);
    return std::unexpected(std::move(e));
  };
  if (bpf_obj_pin(*disp, (gen_dir + "/dispatcher").c_str()) != 0)
    return fail_gen(Error::from_errno(errno, "pin the TC dispatcher"));
  std::map<std::string, uint32_t> link_ids;
  for (unsigned i = 0; i < members.size(); ++i) {
    auto ext = load_extension(members[i], *disp, i);
    if (!ext) return fail_gen(ext.error());
    bpf_program *prog = bpf_object__find_program_by_name(ext->get(), members[i].function.c_str());
    UniqueFd link(bpf_link_create(bpf_program__fd(prog), 0, kFreplaceAttach, nullptr));
    if (!link.valid())
      return fail_gen(Error::from_errno(errno, fmt::format("link {} into dispatcher slot {}", members[i].program, i)));
    const std::string name = link_name(members[i].program, members[i].key);
    if (bpf_obj_pin(link.get(), (gen_dir + "/" + name).c_str()) != 0)
      return fail_gen(Error::from_errno(errno, "pin ext link " + name));
    bpf_link_info info{};
    uint32_t len = sizeof info;
    link_ids[name] = bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0 ? info.id : 0;
  }

  // The swap: one netlink request points our filter at the new dispatcher.
  if (int err = bpf_tc_hook_create(&tch); err && err != -EEXIST)
    return fail_gen(Error::from_errno(err, "create clsact qdisc on " + label));
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = *disp, .flags = filter_prog ? static_cast<uint32_t>(BPF_TC_F_REPLACE) : 0u,
                      .handle = kTcDispatcherHandle, .priority = kTcDispatcherPriority);
  if (int err = bpf_tc_attach(&tch, &opts))
    return fail_gen(Error::from_errno(err, "attach the TC dispatcher to " + label));
  // The previous generation: unpinning its links and dispatcher frees them (nothing else
  // holds them now that the filter runs the new one).
  for (const auto &g : list_dir(dir))
    if (g != gen) (void)remove_tree(dir + "/" + g);
  spdlog::info("TC dispatcher on {}: {} program(s), generation {}", label, members.size(), gen);
  return link_ids;
}

bool tc_dispatcher_in_place(const std::string &pin_root, const std::string &program, const AttachRecord &r,
                            uint32_t *link_id) {
  auto ns = NetnsGuard::enter(r.netns);
  if (!ns) return false;
  const int ifindex = static_cast<int>(if_nametoindex(r.spec.interface.c_str()));
  if (ifindex == 0) return false;
  const std::string dir = hook_dir(pin_root, ifindex, r.egress);
  const std::string gen = current_generation(dir, dispatcher_filter_prog(ifindex, r.egress));
  if (gen.empty()) return false;
  const uint32_t id = pinned_link_id(dir + "/" + gen + "/" + link_name(program, r.key));
  if (link_id) *link_id = id;
  return id != 0;
}

}  // namespace bpfrec
