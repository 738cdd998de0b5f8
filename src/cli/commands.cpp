#include "cli/commands.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <cstdio>
#include <charconv>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bus/bus.h"
#include "kernel/inventory.h"
#include "kernel/kernel.h"
#include "machineconfig/daemon_image.h"
#include "image/pull.h"
#include "store/image_store.h"
#include "store/object_store.h"
#include "machineconfig/machineconfig.h"
#include "load/desired.h"
#include "reconcile/identity.h"
#include "reconcile/interfaces.h"
#include "reconcile/plan.h"
#include "reconcile/steps.h"
#include "status/status.h"

namespace bpfrec {
namespace {

// Opens the program pin of the first program directory under `pin_root` (BPF_OBJ_GET); the
// error when that is refused (EACCES: file mode, EPERM: no CAP_BPF), else nullopt.
std::optional<std::string> pins_denied(const std::string &pin_root) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(pin_root, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string prog = it->path().string() + "/prog";
    if (::access(prog.c_str(), F_OK) != 0) {
      if (errno == ENOENT) continue;  // not a program directory (or a staging one in the middle)
      return fmt::format("{}: {}", prog, std::strerror(errno));
    }
    int fd = bpf_obj_get(prog.c_str());
    if (fd >= 0) {
      ::close(fd);
      return std::nullopt;
    }
    const int err = errno;
    if (err == EACCES || err == EPERM) return fmt::format("{}: {}", prog, std::strerror(err));
    return std::nullopt;
  }
  if (ec && ec.value() != ENOENT) return fmt::format("{}: {}", pin_root, ec.message());
  return std::nullopt;
}

}  // namespace

int cmd_daemon(const DaemonOptions &opts) {
  Daemon d(opts);
  if (auto r = d.run(); !r) {
    spdlog::critical("{}", r.error().message);
    return 1;
  }
  return 0;
}

namespace {

// check --pull: a temporary state directory with the images `desired` waits for, pulled now.
// Failed pulls are listed in `sources.failed` (load_*() then reports them as failed programs).
struct CheckPulls {
  std::string dir;
  std::unique_ptr<ObjectStore> objects;
  std::unique_ptr<ImageStore> images;
  ImageSources sources;
  ~CheckPulls() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

Result<void> pull_for_check(const DesiredState &first, const CheckOptions &opts, CheckPulls &c) {
  const char *tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/var/tmp") + "/bpfman-check-XXXXXX";
  if (!::mkdtemp(pattern.data())) return fail_errno(errno, "mkdtemp {}", pattern);
  c.dir = pattern;
  c.objects = std::make_unique<ObjectStore>(c.dir + "/bytecode/sha256");
  c.images = std::make_unique<ImageStore>(c.dir + "/images");
  if (auto r = c.objects->open(); !r) return r;
  if (auto r = c.images->open(); !r) return fail(r.error());
  std::set<std::string> refs;
  for (const auto &w : first.waiting) refs.insert(w.reference);
  int n = 0;
  for (const auto &reference : refs) {
    auto ref = parse_image_reference(reference);
    if (!ref) continue;
    const std::string work = fmt::format("{}/pulls/{}", c.dir, ++n);
    std::error_code ec;
    std::filesystem::create_directories(work, ec);
    const SkopeoCommand cmd{"skopeo", effective_authfile(opts.authfile), work};
    auto pulled = pull_and_wait(cmd, *ref, work, opts.pull_timeout_s);
    if (!pulled) {
      c.sources.failed[reference] = pulled.error().message;
      continue;
    }
    if (auto w = store_pull(*c.objects, *c.images, reference, *pulled, ""); !w)
      c.sources.failed[reference] = fmt::format("pull {}: {}", reference, w.error().message);
    std::filesystem::remove_all(work, ec);
  }
  c.sources.images = c.images.get();
  c.sources.objects = c.objects.get();
  return {};
}

}  // namespace

int cmd_check(const std::vector<std::string> &paths, const CheckOptions &opts) {
  std::vector<std::string> files, dirs;
  int bad = 0;
  for (auto &p : paths) {
    // stat(2), not std::filesystem::is_directory(): that throws on EACCES (a path under a 0700
    // directory), and check must report, not abort.
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 && errno != ENOENT) {
      fmt::print(stderr, "{}: error: cannot read: {}\n", p, std::strerror(errno));
      ++bad;
      continue;
    }
    (S_ISDIR(st.st_mode) ? dirs : files).push_back(p);
  }
  size_t programs = 0;
  auto report = [&](const DesiredState &d) {
    programs += d.programs.size();
    for (auto &m : d.manifests) {
      for (auto &e : m.errors) fmt::print(stderr, "{}\n", e.str());
      bad += m.state == ManifestState::Invalid || m.state == ManifestState::Unreadable;
    }
  };
  auto report_waiting = [&](const DesiredState &d) {
    for (auto &w : d.waiting) {
      if (!opts.pull) continue;  // offline: the daemon pulls it
      if (w.failed) {
        fmt::print(stderr, "{}\n", Diagnostic{w.manifest, w.pos, fmt::format("program '{}': {}", w.name, w.reason)}.str());
        ++bad;
      }
    }
  };
  auto check = [&](auto load) {
    DesiredState d = load(nullptr);
    if (!opts.pull || d.waiting.empty()) return report(d);
    CheckPulls pulls;
    if (auto r = pull_for_check(d, opts, pulls); !r) {
      fmt::print(stderr, "check --pull: {}\n", r.error().message);
      ++bad;
      return report(d);
    }
    d = load(&pulls.sources);
    report(d);
    report_waiting(d);
  };
  if (!files.empty()) check([&](const ImageSources *s) { return load_files(files, s); });
  if (!dirs.empty()) check([&](const ImageSources *s) { return load_desired(dirs, {}, nullptr, s); });
  if (bad) {
    fmt::print(stderr, "{} invalid manifest{}\n", bad, bad == 1 ? "" : "s");
    return 1;
  }
  fmt::print("ok: {} program{}\n", programs, programs == 1 ? "" : "s");
  return 0;
}

int cmd_status(bool as_json, const StatusFilter &filter, bool all) {
  sd_bus *raw = nullptr;
  if (int r = sd_bus_open_system(&raw); r < 0) {
    fmt::print(stderr, "cannot connect to the system bus: {}\n", std::strerror(-r));
    return 1;
  }
  BusPtr bus(raw);
  sd_bus_error err = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = nullptr;
  int r = sd_bus_call_method(bus.get(), kBusName, kManagerPath, kManagerInterface, "Describe", &err, &reply, "");
  if (r < 0) {
    fmt::print(stderr, "Describe() on {} failed: {}\n", kBusName, err.message ? err.message : std::strerror(-r));
    sd_bus_error_free(&err);
    return 1;
  }
  const char *text = nullptr;
  r = sd_bus_message_read(reply, "s", &text);
  std::string doc = r >= 0 && text ? text : "";
  sd_bus_message_unref(reply);
  if (r < 0) {
    fmt::print(stderr, "malformed Describe() reply: {}\n", std::strerror(-r));
    return 1;
  }
  nlohmann::json j = nlohmann::json::parse(doc, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    fmt::print(stderr, "Describe() returned malformed JSON\n");
    return 1;
  }
  if (!filter.type.empty() || !filter.metadata.empty()) j = filter_describe(j, filter);
  if (!as_json && !all) j.erase("foreign");
  fmt::print("{}", as_json ? j.dump(2) + "\n" : format_status_table(j) + (all ? format_foreign_table(j) : ""));
  return 0;
}

int cmd_machineconfig(const MachineConfigOptions &opts) {
  auto fail_with = [](const std::string &msg) {
    fmt::print(stderr, "machineconfig: {}\n", msg);
    return 1;
  };
  auto read = [](const std::string &path) -> Result<std::string> {
    std::error_code ec;
    if (std::filesystem::is_symlink(path, ec))
      return fail("{} is a symlink, which a MachineConfig cannot carry", path);
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail_errno(errno, "read {}", path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  MachineConfigSpec spec;
  spec.name = opts.name;
  spec.role = opts.role;
  if (!opts.manifests.empty()) {
    TagResolver resolve;
    if (opts.resolve_tags)
      resolve = [&opts](const ImageReference &ref) {
        return resolve_digest(SkopeoCommand{"skopeo", opts.authfile, ""}, ref);
      };
    std::vector<std::string> warnings;
    auto files = manifest_files(opts.manifests, resolve, &warnings);
    for (const auto &w : warnings) fmt::print(stderr, "{}\n", w);
    if (!files) return fail_with(files.error().message);
    spec.files = std::move(*files);
  }
  for (auto &f : opts.files) {
    // DEST=SRC[:MODE]
    auto eq = f.find('=');
    if (eq == std::string::npos) return fail_with(fmt::format("--file {}: expected DEST=SRC[:MODE]", f));
    std::string dest = f.substr(0, eq), src = f.substr(eq + 1);
    uint32_t mode = 0644;
    if (auto colon = src.rfind(':'); colon != std::string::npos) {
      const std::string_view text = std::string_view(src).substr(colon + 1);
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || mode > 07777)
        return fail_with(fmt::format("--file {}: mode must be octal, e.g. 0644", f));
      src.resize(colon);
    }
    auto content = read(src);
    if (!content) return fail_with(content.error().message);
    spec.files.push_back({dest, std::move(*content), mode});
  }
  if (!opts.daemon_image.empty()) {
    auto ref = parse_digest_reference(opts.daemon_image);
    if (!ref) return fail_with("--daemon-image " + ref.error().message);
    auto parts = daemon_image_parts(*ref, shipped_daemon_unit(), shipped_dbus_policy(), shipped_tmpfiles());
    if (!parts) return fail_with(parts.error().message);
    spec.files.insert(spec.files.end(), parts->first.begin(), parts->first.end());
    spec.units.insert(spec.units.end(), parts->second.begin(), parts->second.end());
  }
  for (auto &u : opts.units) {
    auto content = read(u);
    if (!content) return fail_with(content.error().message);
    spec.units.push_back({std::filesystem::path(u).filename().string(), std::move(*content), true});
  }
  auto rendered = render_checked(spec, opts.force);
  if (!rendered) return fail_with(rendered.error().message);
  const std::string &yaml = *rendered;
  if (opts.output.empty() || opts.output == "-") {
    fmt::print("{}", yaml);
    return 0;
  }
  const std::string tmp = opts.output + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << yaml;
    if (!out) return fail_with(fmt::format("write {}: {}", tmp, std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), opts.output.c_str()) != 0)
    return fail_with(fmt::format("rename {}: {}", opts.output, std::strerror(errno)));
  return 0;
}

int cmd_plan(const std::vector<std::string> &dirs, const std::string &pin_root, bool as_json) {
  DesiredState desired = load_desired(dirs);
  // Without reading the pins the plan would claim that everything is new: refuse instead.
  struct stat st {};
  if (::stat(pin_root.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      fmt::print(stderr, "cannot read pin root {}: {} (run as root)\n", pin_root, std::strerror(errno));
      return 1;
    }
    // Nothing pinned yet (first boot): everything is a create.
  } else if (::access(pin_root.c_str(), R_OK | X_OK) != 0) {
    fmt::print(stderr, "cannot read pin root {}: {} (run as root)\n", pin_root, std::strerror(errno));
    return 1;
  } else if (struct statfs sfs {}; ::statfs(pin_root.c_str(), &sfs) != 0 || sfs.f_type != BPF_FS_MAGIC) {
    fmt::print(stderr, "pin root {} is not on a bpffs: the daemon would refuse it\n", pin_root);
    return 1;
  }
  // Pins we may not open would read as "pins are incomplete" and plan a replace of every
  // program (issue 11 bug 8): open one first and refuse when that is not allowed.
  if (auto denied = pins_denied(pin_root)) {
    fmt::print(stderr, "cannot read the pins under {}: {} (run as root)\n", pin_root, *denied);
    return 1;
  }
  // Patterns expand against the interfaces as they are now, exactly as the daemon would.
  const auto notes = expand_interfaces(
      desired, read_interface_inventory(pattern_netns(desired), pattern_netns(desired, /*primary_only=*/true)));
  auto kernel = make_libbpf_kernel(pin_root);
  auto observation = kernel->observe();
  if (!observation) {
    fmt::print(stderr, "cannot plan: {}\n", observation.error().message);
    return 1;
  }
  const ObservedState &observed = *observation;
  auto changes = plan(desired, observed);
  bool invalid = false;
  for (auto &m : desired.manifests)
    invalid |= m.state == ManifestState::Invalid || m.state == ManifestState::Unreadable;
  if (as_json) {
    // The steps the executor would run (reconcile/steps.h). Not asked here: check_attach()
    // refusals (an Update's attach point that the mechanism would refuse shows as attached).
    const Capabilities caps = kernel->capabilities();
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (auto &dir : observed.stale)
      out.push_back({{"program", dir.name}, {"action", "discard"}, {"reason", "staging directory of an interrupted replace"},
                     {"attach", nlohmann::ordered_json::array()},
                     {"detach", nlohmann::ordered_json::array()}, {"forget", nlohmann::ordered_json::array()}, {"steps", steps_to_json(steps_for_stale(dir))}});
    for (auto &c : changes) {
      auto seen = observed.programs.find(c.name);
      const auto steps = steps_for(c, seen != observed.programs.end() ? &seen->second : nullptr, caps);
      out.push_back({{"program", c.name}, {"action", to_string(c.kind)}, {"reason", c.reason}, {"attach", c.attach},
                     {"detach", c.detach}, {"forget", c.forget}, {"steps", steps_to_json(steps)}});
    }
    fmt::print("{}\n", out.dump(2));
  } else {
    for (auto &m : desired.manifests)
      for (auto &e : m.errors) fmt::print(stderr, "{}\n", e.str());
    for (auto &c : changes) {
      if (c.kind == ChangeKind::Keep && !c.record_stale) continue;
      fmt::print("{:<8} {}  ({})\n", to_string(c.kind), c.name, c.reason);
      if (c.desired)
        for (auto &a : c.desired->attach) {
          auto k = std::find(c.attach.begin(), c.attach.end(), attach_key(c.desired->type, a));
          if (k != c.attach.end()) fmt::print("  + attach {}\n", a.target_label(c.desired->type));
        }
      if (!c.detach.empty()) fmt::print("  - detach {} attach point{}\n", c.detach.size(), c.detach.size() == 1 ? "" : "s");
      if (!c.forget.empty())
        fmt::print("  - forget {} attach point{} that went away\n", c.forget.size(), c.forget.size() == 1 ? "" : "s");
    }
    // Not changes: patterns waiting for an interface (or whose netns could not be read).
    for (auto &n : notes)
      fmt::print("{} {}  (attach point '{}': {})\n", n.kind == PatternNote::Failed ? "failed " : "pending", n.program,
                 n.spec.target_label(n.type), n.message);
  }
  if (invalid && !as_json) fmt::print(stderr, "some manifests are invalid; their programs would be kept as they are\n");
  return plan_changes_anything(changes) ? 2 : 0;
}

}  // namespace bpfrec
