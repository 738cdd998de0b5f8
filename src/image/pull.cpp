#include "image/pull.h"

#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "util/sha256.h"

extern char **environ;

namespace bpfrec {

namespace fs = std::filesystem;

std::string effective_authfile(const std::string &given, const std::string &kubelet) {
  if (!given.empty()) return given;
  std::error_code ec;
  if (!kubelet.empty() && fs::is_regular_file(kubelet, ec)) return kubelet;
  return {};
}

std::vector<std::string> skopeo_pull_argv(const SkopeoCommand &cmd, const ImageReference &ref, const std::string &dest) {
  std::vector<std::string> argv = {cmd.skopeo};
  if (!cmd.tmp_dir.empty()) argv.insert(argv.end(), {"--tmpdir", cmd.tmp_dir});
  argv.insert(argv.end(), {"copy", "--quiet", "--retry-times", "0", "--multi-arch", "all"});
  if (!cmd.authfile.empty()) argv.insert(argv.end(), {"--src-authfile", cmd.authfile});
  argv.push_back("docker://" + ref.str());
  argv.push_back("dir:" + dest);
  return argv;
}

PullRunner auto_pull_runner() {
  const char *invocation = std::getenv("INVOCATION_ID");
  struct stat st {};
  const bool booted = ::lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
  return invocation && *invocation && booted ? PullRunner::SystemdRun : PullRunner::Direct;
}

std::vector<std::string> pull_environment(const std::function<const char *(const char *)> &getenv) {
  std::vector<std::string> out;
  for (const char *name : {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
                           "CONTAINERS_REGISTRIES_CONF", "CONTAINERS_REGISTRIES_CONF_DIR", "REGISTRY_AUTH_FILE"})
    if (const char *v = getenv(name)) out.push_back(std::string(name) + "=" + v);
  return out;
}

std::vector<std::string> systemd_run_argv(const TransientPull &t, const std::vector<std::string> &argv) {
  const uint64_t seconds = std::max<uint64_t>(1, (t.timeout_usec + 999'999) / 1'000'000);
  std::vector<std::string> out = {"systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
                                  "--unit=" + t.unit};
  if (!t.description.empty()) out.push_back("--description=" + t.description);
  for (const auto &e : t.environment) out.push_back("--setenv=" + e);
  for (const std::string &p : {
           std::string("CapabilityBoundingSet="), std::string("AmbientCapabilities="), std::string("NoNewPrivileges=yes"),
           std::string("ProtectSystem=strict"), "ReadWritePaths=" + t.work_dir, std::string("ProtectHome=tmpfs"),
           std::string("PrivateTmp=yes"), std::string("PrivateDevices=yes"), std::string("ProtectKernelTunables=yes"),
           std::string("ProtectKernelModules=yes"), std::string("ProtectKernelLogs=yes"),
           std::string("ProtectControlGroups=yes"), std::string("ProtectClock=yes"), std::string("ProtectHostname=yes"),
           std::string("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"), std::string("RestrictNamespaces=yes"),
           std::string("LockPersonality=yes"), std::string("RestrictRealtime=yes"), std::string("RestrictSUIDSGID=yes"),
           std::string("SystemCallArchitectures=native"), std::string("SystemCallFilter=@system-service"),
           std::string("SystemCallFilter=~@privileged @resources"), std::string("SystemCallErrorNumber=EPERM"),
           std::string("MemoryDenyWriteExecute=yes"), std::string("PrivateMounts=yes"),
           std::string("ProtectProc=invisible"), std::string("UMask=0077"), fmt::format("RuntimeMaxSec={}", seconds)}) {
    out.push_back("-p");
    out.push_back(p);
  }
  out.push_back("--");
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::vector<std::string> skopeo_inspect_argv(const SkopeoCommand &cmd, const ImageReference &ref) {
  std::vector<std::string> argv = {cmd.skopeo};
  if (!cmd.tmp_dir.empty()) argv.insert(argv.end(), {"--tmpdir", cmd.tmp_dir});
  argv.insert(argv.end(), {"inspect", "--raw", "--retry-times", "0"});
  if (!cmd.authfile.empty()) argv.insert(argv.end(), {"--authfile", cmd.authfile});
  argv.push_back("docker://" + ref.str());
  return argv;
}

Result<pid_t> spawn_process(const std::vector<std::string> &args, int stdout_fd, const std::string &stderr_path) {
  std::vector<char *> argv;
  for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdout_fd, 1);
  else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (!stderr_path.empty()) posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &defaults);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) return fail(Error::from_errno(rc, fmt::format("cannot run {}", args[0])));
  return pid;
}

namespace {

// waitpid(2) for `pid`, through EINTR; its status.
int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_status(int status) {
  return WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                           : fmt::format("signal {}", WTERMSIG(status));
}

}  // namespace

Result<std::string> resolve_digest(const SkopeoCommand &cmd, const ImageReference &ref) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  auto pid = spawn_process(skopeo_inspect_argv(cmd, ref), pipe_fds[1]);
  ::close(pipe_fds[1]);
  if (!pid) {
    ::close(pipe_fds[0]);
    return fail(pid.error());
  }
  std::string raw;
  bool too_big = false;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (raw.size() + static_cast<size_t>(n) > kMaxImageJsonBytes) too_big = true;
    else raw.append(buf, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  const int status = wait_for(*pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail("{} inspect docker://{} failed ({})", cmd.skopeo, ref.str(), describe_status(status));
  if (too_big) return fail("{}: the manifest is over {} bytes", ref.str(), kMaxImageJsonBytes);
  if (raw.empty()) return fail("{}: skopeo printed no manifest", ref.str());
  return "sha256:" + sha256_hex(raw);
}


Result<PulledImage> read_pulled_dir(const std::string &dir, const ImageReference &ref, const ReadImageOptions &options) {
  const std::string top = dir + "/manifest.json";
  auto manifest = read_capped_file(top, kMaxImageJsonBytes, "pulled image");
  if (!manifest) return fail(manifest.error());
  PulledImage out;
  const std::string hex = sha256_hex(*manifest);
  out.digest = "sha256:" + hex;
  if (!ref.digest.empty() && ref.digest != out.digest)
    return fail(Error{0, fmt::format("{}: the manifest's digest is {}, not the {} asked for", top, out.digest, ref.digest),
                      ErrorKind::Invalid});

  // An OCI layout of the same files: blobs/sha256/<hex> for manifest.json, every instance
  // manifest and every blob (renames: the directory is the puller's own).
  const std::string layout = dir + "/oci";
  const std::string blobs = layout + "/blobs/sha256";
  std::error_code ec;
  fs::create_directories(blobs, ec);
  if (ec) return fail("{}: {}", blobs, ec.message());
  auto move_in = [&](const fs::path &from, const std::string &name) -> Result<void> {
    fs::rename(from, blobs + "/" + name, ec);
    if (ec) return fail("{} -> {}: {}", from.string(), blobs, ec.message());
    return {};
  };
  for (const auto &e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    std::string blob;
    if (is_sha256_hex(name)) blob = name;
    else if (name.size() == 64 + 14 && name.ends_with(".manifest.json") && is_sha256_hex(name.substr(0, 64)))
      blob = name.substr(0, 64);
    else continue;  // version, signature-N, manifest.json, oci
    if (auto r = move_in(e.path(), blob); !r) return fail(r.error());
  }
  if (ec) return fail("{}: {}", dir, ec.message());
  if (auto r = move_in(top, hex); !r) return fail(r.error());
  {
    std::ofstream f(layout + "/oci-layout");
    f << R"({"imageLayoutVersion":"1.0.0"})";
    std::ofstream i(layout + "/index.json");
    i << fmt::format(R"({{"schemaVersion":2,"manifests":[{{"digest":"{}","size":{}}}]}})", out.digest,
                     manifest->size());
    if (!f || !i) return fail("{}: cannot write the layout's index", layout);
  }
  auto image = read_bytecode_image(layout, options);
  if (!image) return fail(image.error());
  out.image = std::move(*image);
  return out;
}

std::string skopeo_message(const std::string &path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  if (const auto m = last.find("msg=\""); m != std::string::npos) {
    std::string msg;
    for (size_t i = m + 5; i < last.size() && last[i] != '"'; ++i) {
      if (last[i] == '\\' && i + 1 < last.size()) ++i;
      msg += last[i];
    }
    last = msg;
  }
  if (last.size() > 1024) last = last.substr(0, 1024) + "...";
  return last;
}

Result<PulledImage> pull_outcome(const ImageReference &ref, const std::string &work_dir, const std::string &skopeo,
                                 bool exited, int code) {
  if (!exited) return fail("pull {}: {} killed by signal {}", ref.str(), skopeo, code);
  if (code != 0) {
    const std::string said = skopeo_message(work_dir + "/stderr");
    return fail("pull {}: {} exited with status {}{}{}", ref.str(), skopeo, code, said.empty() ? "" : ": ", said);
  }
  auto pulled = read_pulled_dir(work_dir + "/image", ref);
  if (!pulled) return fail(pulled.error().with_message(fmt::format("pull {}: {}", ref.str(), pulled.error().message)));
  return pulled;
}

Result<PulledImage> pull_and_wait(const SkopeoCommand &cmd, const ImageReference &ref, const std::string &work_dir,
                                  unsigned timeout_s) {
  std::vector<std::string> args = skopeo_pull_argv(cmd, ref, work_dir + "/image");
  args.insert(args.begin() + 1, {"--command-timeout", fmt::format("{}s", timeout_s)});
  auto pid = spawn_process(args, -1, work_dir + "/stderr");
  if (!pid) return fail("pull {}: {}", ref.str(), pid.error().message);
  const int status = wait_for(*pid);
  return pull_outcome(ref, work_dir, cmd.skopeo, WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

}  // namespace bpfrec
