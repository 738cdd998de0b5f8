#include "harness/env.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <sstream>

#include "harness/internal.h"

namespace it {

using detail::errno_text;

namespace {

std::string g_skip;
std::string g_fatal;
std::atomic<unsigned> g_counter{0};

constexpr long kTracefsMagic = 0x74726163;
constexpr long kBpffsMagic = 0xcafe4a11;

long fs_magic(const char* path) {
  struct statfs st{};
  if (::statfs(path, &st) != 0) return 0;
  return static_cast<long>(st.f_type);
}

}  // namespace

void setup_process_environment() {
  // /usr/sbin holds ip, tc and bpftool; meson test may run with a user-ish PATH.
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (path + (path.empty() ? "" : ":") + "/usr/sbin:/usr/bin:/sbin:/bin").c_str(), 1);

  if (::geteuid() != 0) {
    g_skip = "integration tests need root (bpf, netns, mounts); running as uid " +
             std::to_string(::geteuid());
    return;
  }
  for (const char* tool : {"bpftool", "ip", "tc", "busctl", "dbus-daemon", "nsenter", "ping"}) {
    if (!detail::find_in_path(tool)) {
      g_skip = std::string("required tool not found in PATH: ") + tool;
      return;
    }
  }
  if (::access(reconciler_bin().c_str(), X_OK) != 0) {
    g_fatal = "daemon binary not executable: " + reconciler_bin();
  }
  for (const char* o : {"xdp_counter", "tc_counter", "tracepoint_counter", "uprobe_counter", "kprobe_counter",
                        "cgroup_counter", "raw_tp_counter"}) {
    const std::string p = std::string(BPF_OBJ_DIR) + "/" + o + ".bpf.o";
    if (::access(p.c_str(), R_OK) != 0) g_fatal += (g_fatal.empty() ? "" : "; ") + ("missing " + p);
  }

  if (::unshare(CLONE_NEWNS) != 0) {
    g_skip = errno_text("unshare(CLONE_NEWNS)");
    return;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    g_skip = errno_text("mount --make-rprivate /");
    return;
  }
  // Always a fresh bpffs: our pins must not mix with the host's (or an earlier run's).
  if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
    g_skip = errno_text("mount bpffs on /sys/fs/bpf");
    return;
  }
  if (fs_magic("/sys/kernel/tracing") != kTracefsMagic &&
      ::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    g_skip = errno_text("mount tracefs on /sys/kernel/tracing");
    return;
  }
  // Our netns names live only in this mount namespace and vanish with it.
  ::mkdir("/run/netns", 0755);
  if (::mount("tmpfs", "/run/netns", "tmpfs", 0, "mode=0755") != 0) {
    g_skip = errno_text("mount tmpfs on /run/netns");
    return;
  }
  if (fs_magic("/sys/fs/bpf") != kBpffsMagic) g_skip = "/sys/fs/bpf is not a bpffs after mount";
}

const std::string& skip_reason() { return g_skip; }

const std::string& reconciler_bin() {
  static const std::string bin = [] {
    const char* env = std::getenv("BPFREC_IT_RECONCILER");
    return std::string(env && *env ? env : RECONCILER_BIN);
  }();
  return bin;
}
const std::string& fatal_reason() { return g_fatal; }

std::string unique_name(const std::string& prefix) {
  return prefix + std::to_string(::getpid()) + "x" + std::to_string(g_counter++);
}

}  // namespace it
