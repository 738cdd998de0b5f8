#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace it {
namespace {

std::string g_skip;
std::string g_fatal;
std::atomic<unsigned> g_counter{0};

constexpr long kTracefsMagic = 0x74726163;
constexpr long kBpffsMagic = 0xcafe4a11;
// Not in Debian 12's 6.1 UAPI headers.
constexpr std::uint32_t kBpfTcxIngress = 46;
constexpr std::uint32_t kBpfTcxEgress = 47;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool find_in_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

long fs_magic(const char* path) {
  struct statfs st{};
  if (::statfs(path, &st) != 0) return 0;
  return static_cast<long>(st.f_type);
}

std::string wait_text(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::optional<json> parse_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::uint64_t parse_number_or_hex(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  if (v.is_array()) {  // little-endian hex bytes ["0x06","0x00",...]
    std::uint64_t out = 0;
    for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
      const auto byte = std::stoul(v[i].get<std::string>(), nullptr, 16);
      out |= static_cast<std::uint64_t>(byte & 0xff) << (8 * i);
    }
    return out;
  }
  if (v.is_string()) return std::stoull(v.get<std::string>(), nullptr, 0);
  throw std::runtime_error("unexpected map value " + v.dump());
}

}  // namespace

// ---------------------------------------------------------------------------------------------

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
    if (!find_in_path(tool)) {
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

// ---------------------------------------------------------------------------------------------

std::string CmdResult::describe() const {
  return "rc=" + std::to_string(rc) + "\nstdout: " + out + "\nstderr: " + err;
}

CmdResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CmdResult res;
  int outp[2];
  int errp[2];
  if (::pipe2(outp, O_CLOEXEC) != 0) return res;
  if (::pipe2(errp, O_CLOEXEC) != 0) {
    ::close(outp[0]);
    ::close(outp[1]);
    return res;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(outp[1], 1);
    ::dup2(errp[1], 2);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(outp[1]);
  ::close(errp[1]);
  if (pid < 0) {
    ::close(outp[0]);
    ::close(errp[0]);
    res.err = errno_text("fork");
    return res;
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        (i == 0 ? res.out : res.err).append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) res.rc = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) res.rc = 128 + WTERMSIG(status);
  if (timed_out) res.err += "\n[harness: timed out after " + std::to_string(timeout.count()) + " ms]";
  return res;
}

CmdResult run_in_netns(const std::string& ns, const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout) {
  std::vector<std::string> full = {"nsenter", "--net=/run/netns/" + ns, "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full, timeout);
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(step);
  }
}

// ---------------------------------------------------------------------------------------------

bool path_exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

void write_file_atomic(const std::string& dir, const std::string& name, const std::string& content) {
  const std::string tmp = dir + "/." + name + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), (dir + "/" + name).c_str()) != 0)
    throw std::runtime_error(errno_text("rename " + tmp));
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error(errno_text("mkdtemp"));
  return tmpl;
}

// ---------------------------------------------------------------------------------------------

std::optional<std::uint32_t> pinned_prog_id(const std::string& path) {
  if (!path_exists(path)) return std::nullopt;
  const auto r = run({"bpftool", "-j", "prog", "show", "pinned", path});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_object() || !j->contains("id")) return std::nullopt;
  return (*j)["id"].get<std::uint32_t>();
}

std::optional<json> pinned_map_info(const std::string& path) {
  const auto r = run({"bpftool", "-j", "map", "show", "pinned", path});
  if (r.rc != 0) return std::nullopt;
  return parse_json(r.out);
}

std::optional<json> pinned_link_info(const std::string& path) {
  const auto r = run({"bpftool", "-j", "link", "show", "pinned", path});
  if (r.rc != 0) return std::nullopt;
  return parse_json(r.out);
}

std::optional<json> prog_info(std::uint32_t id) {
  const auto r = run({"bpftool", "-j", "prog", "show", "id", std::to_string(id)});
  if (r.rc != 0) return std::nullopt;
  return parse_json(r.out);
}

bool prog_listed(std::uint32_t id) {
  const auto r = run({"bpftool", "-j", "prog", "show"});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) throw std::runtime_error("bpftool prog show: " + r.describe());
  for (const auto& p : *j)
    if (p.value("id", 0u) == id) return true;
  return false;
}

std::string prog_holders(std::uint32_t id) {
  std::string out;
  std::error_code ec;
  const std::string want = "prog_id:\t" + std::to_string(id) + "\n";
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    int n = 0;
    std::error_code ec2;
    for (const auto& fd : fs::directory_iterator(proc.path() / "fdinfo", ec2)) {
      if (read_file(fd.path()).find(want) != std::string::npos) ++n;
    }
    if (n > 0) {
      std::string comm = read_file(proc.path() / "comm");
      if (!comm.empty() && comm.back() == '\n') comm.pop_back();
      out += (out.empty() ? "" : ", ") + pid + "(" + comm + ") x" + std::to_string(n);
    }
  }
  return "fds of prog " + std::to_string(id) + " held by: " + (out.empty() ? "nobody" : out);
}

std::optional<std::uint64_t> sum_first_u64(const std::string& map_pin) {
  const auto r = run({"bpftool", "-j", "map", "dump", "pinned", map_pin});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) return std::nullopt;
  std::uint64_t sum = 0;
  for (const auto& e : *j) {
    if (e.contains("values")) {  // per-CPU: {"key":[...],"values":[{"cpu":0,"value":[...]}]}
      for (const auto& v : e["values"])
        if (v.contains("value") && v["value"].is_array()) sum += parse_number_or_hex(v["value"]);
    } else if (e.contains("value") && e["value"].is_array()) {
      sum += parse_number_or_hex(e["value"]);
    }
  }
  return sum;
}

json all_links() {
  const auto r = run({"bpftool", "-j", "link", "show"});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) throw std::runtime_error("bpftool link show: " + r.describe());
  return *j;
}

std::vector<json> links_of_prog(std::uint32_t prog_id) {
  std::vector<json> out;
  for (const auto& l : all_links())
    if (l.value("prog_id", 0u) == prog_id) out.push_back(l);
  return out;
}

json net_show(const std::string& ns, const std::string& ifname) {
  const auto r = run_in_netns(ns, {"bpftool", "-j", "net", "show", "dev", ifname});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array() || j->empty())
    throw std::runtime_error("bpftool net show: " + r.describe());
  return (*j)[0];
}

std::vector<std::uint32_t> xdp_prog_ids(const std::string& ns, const std::string& ifname) {
  std::vector<std::uint32_t> out;
  const json n = net_show(ns, ifname);
  for (const auto& x : n.value("xdp", json::array()))
    if (x.contains("id")) out.push_back(x["id"].get<std::uint32_t>());
  return out;
}

std::string xdp_mode(const std::string& ns, const std::string& ifname) {
  const json n = net_show(ns, ifname);
  for (const auto& x : n.value("xdp", json::array())) return x.value("mode", "");
  return "";
}

std::optional<std::vector<std::uint32_t>> tcx_prog_ids(const std::string& ns,
                                                       const std::string& ifname, bool ingress) {
  // setns() moves only the calling thread, so do the query on a short-lived thread.
  std::optional<std::vector<std::uint32_t>> result;
  std::string error;
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      error = errno_text("setns " + ns);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    const unsigned ifindex = ::if_nametoindex(ifname.c_str());
    if (ifindex == 0) {
      error = errno_text("if_nametoindex " + ifname);
      return;
    }
    std::uint32_t ids[64] = {};
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.query.target_fd = ifindex;  // target_ifindex in newer headers
    attr.query.attach_type = ingress ? kBpfTcxIngress : kBpfTcxEgress;
    attr.query.prog_ids = reinterpret_cast<std::uintptr_t>(ids);
    attr.query.prog_cnt = 64;
    if (::syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof attr) != 0) {
      error = errno_text("BPF_PROG_QUERY tcx");
      return;
    }
    result.emplace(ids, ids + std::min<std::uint32_t>(attr.query.prog_cnt, 64));
  });
  t.join();
  return result;
}

std::vector<json> cls_bpf_filters(const std::string& ns, const std::string& ifname, bool ingress) {
  std::vector<json> out;
  const auto r = run_in_netns(ns, {"tc", "-j", "filter", "show", "dev", ifname,
                                   ingress ? "ingress" : "egress"});
  if (r.rc != 0) return out;  // no clsact: no filters
  const auto j = parse_json(r.out.empty() ? "[]" : r.out);
  if (!j || !j->is_array()) throw std::runtime_error("tc filter show: " + r.describe());
  for (const auto& f : *j)
    if (f.value("kind", "") == "bpf" && f.contains("options")) out.push_back(f);
  return out;
}

bool has_clsact(const std::string& ns, const std::string& ifname) {
  const auto r = run_in_netns(ns, {"tc", "-j", "qdisc", "show", "dev", ifname});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) return false;
  for (const auto& q : *j)
    if (q.value("kind", "") == "clsact") return true;
  return false;
}

std::optional<std::uint64_t> read_counter(const std::string& map_pin, std::uint32_t index) {
  const auto r = run({"bpftool", "-j", "map", "dump", "pinned", map_pin});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) return std::nullopt;
  for (const auto& e : *j) {
    // With BTF: {"key":[hex...],"value":[hex...],"formatted":{"key":0,"value":6}} (bpftool 7.1)
    // or directly {"key":0,"value":6}; without BTF: hex byte arrays only.
    const json& kv = e.contains("formatted") ? e["formatted"] : e;
    if (!kv.contains("key") || !kv.contains("value")) continue;
    if (parse_number_or_hex(kv["key"]) == index) return parse_number_or_hex(kv["value"]);
  }
  return std::nullopt;
}

std::optional<std::vector<std::uint8_t>> map_value_bytes(std::uint32_t map_id) {
  const auto r = run({"bpftool", "-j", "map", "dump", "id", std::to_string(map_id)});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_array() || j->empty()) return std::nullopt;
  const json& v = (*j)[0]["value"];
  if (!v.is_array()) return std::nullopt;
  std::vector<std::uint8_t> out;
  for (const auto& b : v) {
    if (!b.is_string()) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(std::stoul(b.get<std::string>(), nullptr, 16)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

NetnsPair::NetnsPair() : a(unique_name("itna")), b(unique_name("itnb")) {
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "netns", "add", a},
      {"ip", "netns", "add", b},
      {"ip", "link", "add", if_a, "netns", a, "type", "veth", "peer", "name", if_b, "netns", b},
      {"ip", "-n", a, "addr", "add", std::string(kAddrA) + "/30", "dev", if_a},
      {"ip", "-n", b, "addr", "add", std::string(kAddrB) + "/30", "dev", if_b},
      {"ip", "-n", a, "link", "set", "lo", "up"},
      {"ip", "-n", b, "link", "set", "lo", "up"},
      {"ip", "-n", a, "link", "set", if_a, "up"},
      {"ip", "-n", b, "link", "set", if_b, "up"},
  };
  for (const auto& s : steps) {
    const auto r = run(s);
    if (r.rc != 0) {
      std::string cmd;
      for (const auto& w : s) cmd += w + " ";
      error_ = cmd + "-> " + r.describe();
      return;
    }
  }
}

NetnsPair::~NetnsPair() {
  run({"ip", "netns", "del", a});
  run({"ip", "netns", "del", b});
}

CmdResult NetnsPair::ping_a_from_b(int count) const {
  return run_in_netns(b, {"ping", "-c", std::to_string(count), "-i", "0.01", "-W", "1", "-q", kAddrA});
}

// ---------------------------------------------------------------------------------------------

Bus::Bus(const std::string& dir) {
  const std::string sock = dir + "/system_bus_socket";
  const std::string conf = dir + "/bus.conf";
  {
    std::ofstream out(conf);
    out << R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)" << sock << R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
  </policy>
</busconfig>
)";
  }
  start(dir, conf);
}

Bus::Bus(const std::string& dir, const std::string& config_file) { start(dir, config_file); }

void Bus::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Bus::restart() {
  kill_hard();
  error_.clear();
  address_.clear();
  start(dir_, conf_);
}

void Bus::start(const std::string& dir, const std::string& conf) {
  dir_ = dir;
  conf_ = conf;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    error_ = errno_text("pipe");
    return;
  }
  const std::string conf_arg = "--config-file=" + conf;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(p[1], 3);  // dup2 clears O_CLOEXEC on the new descriptor
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
    }
    // Its complaints (e.g. "Failed to set fd limit") go to a file, not the test output.
    const int logfd = ::open((dir + "/dbus-daemon.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (logfd >= 0) ::dup2(logfd, 2);
    ::execlp("dbus-daemon", "dbus-daemon", conf_arg.c_str(), "--nofork", "--nopidfile",
             "--nosyslog", "--print-address=3", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  if (pid_ < 0) {
    ::close(p[0]);
    error_ = errno_text("fork");
    return;
  }
  // The address is printed once the bus listens.
  pollfd pfd{p[0], POLLIN, 0};
  char buf[512];
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (address_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t r = ::read(p[0], buf, sizeof buf);
    if (r <= 0) break;
    address_.append(buf, static_cast<std::size_t>(r));
  }
  ::close(p[0]);
  if (const auto nl = address_.find('\n'); nl != std::string::npos) {
    address_.resize(nl);
    // Without the server's guid, as DBUS_SYSTEM_BUS_ADDRESS is on a real system: a client that
    // knows the guid refuses a restarted bus (another guid) on the same socket.
    if (const auto g = address_.find(",guid="); g != std::string::npos) address_.resize(g);
  } else {
    error_ = "dbus-daemon did not print its address (got '" + address_ + "')";
  }
}

Bus::~Bus() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    if (!wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 2s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------

Daemon::~Daemon() { stop(2s); }

::testing::AssertionResult Daemon::start(const std::vector<std::string>& args,
                                         const std::string& log) {
  if (pid_ > 0 && alive()) return ::testing::AssertionFailure() << "daemon already running";
  pid_ = -1;
  stopped_ = false;
  exit_text_.clear();
  std::vector<std::string> argv = prefix_;
  argv.push_back(reconciler_bin());
  argv.insert(argv.end(), args.begin(), args.end());
  std::string cmdline;
  for (const auto& a : argv) cmdline += a + " ";
  {
    std::ofstream out(log, std::ios::app);
    out << "==== [harness] starting: " << cmdline << "\n";
  }
  std::vector<char*> cargs;
  for (const auto& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
  cargs.push_back(nullptr);
  const int logfd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (logfd < 0) return ::testing::AssertionFailure() << errno_text("open " + log);

  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(logfd, 1);
    ::dup2(logfd, 2);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    for (const auto& [name, value] : env_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
    ::execvp(cargs[0], cargs.data());
    std::fprintf(stderr, "exec %s: %s\n", cargs[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(logfd);
  if (pid_ < 0) return ::testing::AssertionFailure() << errno_text("fork");

  CmdResult last;
  const bool up = wait_until(
      [&] {
        if (!alive()) return true;  // stop waiting; reported below
        // Started as systemd sees it (READY=1): the first reconcile is complete (Generation 1).
        // Describe() answers earlier, while that reconcile is applied in slices.
        last = run({"busctl", "--system", "get-property", kService, kManagerPath, kManagerIface, "Generation"}, 5s);
        return last.rc == 0 && last.out.rfind("t ", 0) == 0 && last.out != "t 0\n";
      },
      10s, 50ms);
  if (!alive())
    return ::testing::AssertionFailure()
           << "daemon exited during start-up (" << exit_text_ << "); command: " << cmdline;
  if (!up)
    return ::testing::AssertionFailure()
           << "no first reconcile (Generation >= 1) on the bus within 10 s; last busctl: " << last.describe();
  return ::testing::AssertionSuccess();
}

bool Daemon::alive() {
  if (pid_ <= 0) return false;
  if (!exit_text_.empty()) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    exit_text_ = wait_text(status);
    return false;
  }
  return r == 0;
}

std::string Daemon::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return "not running";
  if (!alive()) return exit_text_;
  stopped_ = true;
  ::kill(pid_, SIGTERM);
  if (!wait_until([&] { return !alive(); }, timeout)) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = status;
    exit_text_ = "did not exit on SIGTERM within " + std::to_string(timeout.count()) +
                 " ms; killed (" + wait_text(status) + ")";
  }
  return exit_text_;
}

// ---------------------------------------------------------------------------------------------

json describe() {
  const auto r = run({"busctl", "--system", "--json=short", "call", kService, kManagerPath,
                      kManagerIface, "Describe"});
  if (r.rc != 0) throw std::runtime_error("Describe failed: " + r.describe());
  const auto outer = parse_json(r.out);
  if (!outer || !outer->contains("data") || !(*outer)["data"].is_array() || (*outer)["data"].empty() ||
      !(*outer)["data"][0].is_string())
    throw std::runtime_error("Describe: unexpected busctl output: " + r.out);
  const auto inner = parse_json((*outer)["data"][0].get<std::string>());
  if (!inner) throw std::runtime_error("Describe did not return JSON: " + r.out);
  return *inner;
}

std::optional<json> get_property(const std::string& path, const std::string& iface,
                                 const std::string& prop) {
  const auto r = run({"busctl", "--system", "--json=short", "get-property", kService, path, iface, prop});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->contains("data")) return std::nullopt;
  return (*j)["data"];
}

CmdResult call_reload() {
  return run({"busctl", "--system", "call", kService, kManagerPath, kManagerIface, "Reload"}, 60s);
}

std::vector<std::string> object_paths() {
  const auto r = run({"busctl", "--system", "--list", "tree", kService});
  std::vector<std::string> out;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty() && line[0] == '/') out.push_back(line);
  return out;
}

std::optional<json> find_program(const json& desc, const std::string& name) {
  if (!desc.contains("programs") || !desc["programs"].is_array()) return std::nullopt;
  for (const auto& p : desc["programs"])
    if (p.value("name", "") == name) return p;
  return std::nullopt;
}

std::optional<json> find_manifest(const json& desc, const std::string& path) {
  if (!desc.contains("manifests") || !desc["manifests"].is_array()) return std::nullopt;
  for (const auto& m : desc["manifests"]) {
    const std::string p = m.value("path", "");
    if (p == path || (p.size() > path.size() && p.ends_with("/" + path))) return m;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------

void ReconcilerTest::SetUp() {
  if (!skip_reason().empty()) GTEST_SKIP() << skip_reason();
  ASSERT_TRUE(fatal_reason().empty()) << fatal_reason();

  work_dir_ = make_temp_dir("bpfrec-it-");
  programs_dir_ = work_dir_ + "/programs.d";
  ASSERT_EQ(::mkdir(programs_dir_.c_str(), 0755), 0) << errno_text("mkdir programs.d");
  log_path_ = work_dir_ + "/daemon.log";
  pin_root_ = "/sys/fs/bpf/" + unique_name("it");
  ASSERT_EQ(::mkdir(pin_root_.c_str(), 0700), 0) << errno_text("mkdir " + pin_root_);

  net_ = std::make_unique<NetnsPair>();
  ASSERT_TRUE(net_->ok()) << net_->error();
  bus_ = std::make_unique<Bus>(work_dir_);
  ASSERT_TRUE(bus_->ok()) << bus_->error();
  ::setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_->address().c_str(), 1);
  daemon_ = std::make_unique<Daemon>();
}

::testing::AssertionResult ReconcilerTest::start_daemon() {
  // --log-level is an option of the top-level command (CLI11), so it goes before `daemon`.
  std::vector<std::string> args = {"--log-level", "debug", "daemon", "--programs-dir", programs_dir_,
                                   "--pin-root", pin_root_};
  const auto flags = daemon_flags();
  // The tests that watch one program on a hook (pinned id == the hook's id) ask for one program
  // per interface: where the kernel allows freplace (the VM), `auto` would put it in libxdp's
  // dispatcher as a separate component. test_xdp_shared.cpp tests the dispatcher.
  if (std::find(flags.begin(), flags.end(), "--xdp-mechanism") == flags.end())
    args.insert(args.end(), {"--xdp-mechanism", "single"});
  for (const auto& f : flags) args.push_back(f);
  return daemon_->start(args, log_path_);
}

void ReconcilerTest::TearDown() {
  bool died = false;
  std::string exit_text;
  if (daemon_) {
    died = daemon_->pid() > 0 && !daemon_->alive() && !daemon_->stopped_by_harness();
    exit_text = daemon_->exit_text();
    const std::string how = daemon_->stop();
    if (!died && daemon_->pid() > 0 && how != "exit 0")
      ADD_FAILURE() << "daemon did not exit cleanly on SIGTERM at teardown: " << how;
  }
  if (died)
    ADD_FAILURE() << "the daemon exited on its own during the test (" << exit_text << ")";
  // BPFREC_IT_KEEP_LOGS=1 keeps the daemon's log of passing tests too (to compare with a failure).
  const bool keep_all = std::getenv("BPFREC_IT_KEEP_LOGS") != nullptr;
  if ((HasFailure() || keep_all) && !log_path_.empty() && path_exists(log_path_)) {
    // Keep the whole log (the work dir goes away); on failure print it without libbpf's chatter.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string keep_dir = "/tmp/bpfrec-it-logs";
    ::mkdir(keep_dir.c_str(), 0755);
    const std::string keep = keep_dir + "/" + info->test_suite_name() + "." + info->name() + "." +
                             std::to_string(::getpid()) + ".log";
    std::error_code ec;
    fs::copy_file(log_path_, keep, fs::copy_options::overwrite_existing, ec);
    if (HasFailure()) {
      std::vector<std::string> lines;
      std::stringstream ss(read_file(log_path_));
      std::string line;
      while (std::getline(ss, line))
        if (line.find("debug: libbpf:") == std::string::npos && line.find("debug: libxdp:") == std::string::npos)
          lines.push_back(line);
      constexpr std::size_t kMax = 150;
      std::string excerpt = lines.size() > kMax ? "[... " + std::to_string(lines.size() - kMax) + " lines]\n" : "";
      for (std::size_t i = lines.size() > kMax ? lines.size() - kMax : 0; i < lines.size(); ++i)
        excerpt += lines[i] + "\n";
      std::fprintf(stderr, "---- daemon log without libbpf/libxdp debug lines (full log: %s) ----\n%s"
                   "---- end of daemon log ----\n", keep.c_str(), excerpt.c_str());
    }
  }
  daemon_.reset();
  bus_.reset();
  ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  net_.reset();  // deleting the namespaces detaches whatever XDP/TC is left on the veths
  if (!pin_root_.empty()) remove_tree(pin_root_);  // unpins leftover links (tracepoints, uprobes)
  if (!work_dir_.empty()) remove_tree(work_dir_);
}

void ReconcilerTest::remove_manifest(const std::string& file) {
  ASSERT_EQ(::unlink(manifest_path(file).c_str()), 0) << errno_text("unlink " + file);
}

json ReconcilerTest::describe_or_fail() {
  try {
    return describe();
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
    return json::object();
  }
}

std::optional<json> ReconcilerTest::wait_program(const std::string& name,
                                                 const std::function<bool(const json&)>& pred,
                                                 std::chrono::milliseconds timeout) {
  std::optional<json> last;
  const bool ok = wait_until(
      [&] {
        try {
          last = find_program(describe(), name);
        } catch (const std::exception&) {
          last.reset();
        }
        return last && pred(*last);
      },
      timeout, 50ms);
  if (!ok) return std::nullopt;
  return last;
}

std::optional<std::uint32_t> ReconcilerTest::wait_xdp_attached(const std::string& name,
                                                               std::chrono::milliseconds timeout) {
  std::optional<std::uint32_t> id;
  const bool ok = wait_until(
      [&] {
        id = pinned_prog_id(prog_pin(name));
        if (!id) return false;
        const auto ids = xdp_prog_ids(net_->a, net_->if_a);
        return ids.size() == 1 && ids[0] == *id;
      },
      timeout);
  if (!ok) return std::nullopt;
  return id;
}

std::string ReconcilerTest::diag() {
  std::string out = "\n--- diagnostics ---\nDescribe: ";
  try {
    out += describe().dump(2);
  } catch (const std::exception& e) {
    out += e.what();
  }
  if (net_) {
    out += "\nnet show " + net_->a + ": " +
           run_in_netns(net_->a, {"bpftool", "-j", "net", "show", "dev", net_->if_a}).out;
    out += "\ntc filters ingress: " +
           run_in_netns(net_->a, {"tc", "filter", "show", "dev", net_->if_a, "ingress"}).out;
  }
  out += "\npins: " + run({"find", pin_root_}).out;
  out += "\nmanifests: " + run({"ls", "-la", programs_dir_}).out;
  return out;
}

// ---------------------------------------------------------------------------------------------

std::string xdp_manifest_text(const std::string& name, const std::string& ifname,
                              const std::string& netns_path, int sample_every,
                              const std::string& object_path, const std::string& function) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"xdp\"\n"
         "bpf_function = \"" + function + "\"\n"
         "bytecode = { path = \"" + object_path + "\" }\n"
         "global_data = { sample_every = " + std::to_string(sample_every) + " }\n"
         "metadata = { owner = \"integration-test\" }\n"
         "[[program.attach]]\n"
         "interface = \"" + ifname + "\"\n"
         "netns = \"" + netns_path + "\"\n"
         "mode = \"skb\"\n";
}

std::string tc_manifest_text(const std::string& name, const std::string& ifname,
                             const std::string& netns_path, const std::string& direction) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"tc\"\n"
         "bpf_function = \"tc_count\"\n"
         "bytecode = { path = \"" + bpf_object_path("tc_counter") + "\" }\n"
         "[[program.attach]]\n"
         "interface = \"" + ifname + "\"\n"
         "netns = \"" + netns_path + "\"\n"
         "direction = \"" + direction + "\"\n";
}

std::string tracepoint_manifest_text(const std::string& name, const std::string& tp,
                                     std::optional<std::uint32_t> sample_every) {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"tracepoint\"\n"
         "bpf_function = \"tracepoint_count\"\n"
         "bytecode = { path = \"" + bpf_object_path("tracepoint_counter") + "\" }\n" +
         (sample_every ? "global_data = { sample_every = " + std::to_string(*sample_every) + " }\n" : "") +
         "[[program.attach]]\n"
         "tracepoint = \"" + tp + "\"\n";
}

std::string ReconcilerTest::xdp_manifest(const std::string& name, int sample_every,
                                         const std::string& object,
                                         const std::string& function) const {
  const std::string path = object.find('/') == std::string::npos ? obj(object) : object;
  return xdp_manifest_text(name, net_->if_a, net_->path_a(), sample_every, path, function);
}

std::string ReconcilerTest::tc_manifest(const std::string& name, const std::string& direction) const {
  return tc_manifest_text(name, net_->if_a, net_->path_a(), direction);
}

std::string ReconcilerTest::tracepoint_manifest(const std::string& name, const std::string& tp) const {
  return tracepoint_manifest_text(name, tp);
}

std::string ReconcilerTest::uprobe_manifest(const std::string& name, const std::string& type,
                                            const std::string& target,
                                            const std::string& function) const {
  return "[[program]]\n"
         "name = \"" + name + "\"\n"
         "type = \"" + type + "\"\n"
         "bpf_function = \"uprobe_count\"\n"
         "bytecode = { path = \"" + obj("uprobe_counter") + "\" }\n"
         "[[program.attach]]\n"
         "target = \"" + target + "\"\n"
         "function = \"" + function + "\"\n";
}

}  // namespace it

// =============================================================================================
// Additions: raw kernel views, hook sampling, background commands, renamed objects, pin-root
// checks (used by test_restart/test_crash/test_drift/test_foreign/test_plan_cli).

namespace it {
namespace {

long sys_bpf(int cmd, union bpf_attr* attr) {
  return ::syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int raw_obj_get(const std::string& path) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.pathname = reinterpret_cast<std::uintptr_t>(path.c_str());
  attr.file_flags = BPF_F_RDONLY;
  int fd = static_cast<int>(sys_bpf(BPF_OBJ_GET, &attr));
  if (fd < 0 && errno == EINVAL) {  // links and programs refuse access flags
    attr.file_flags = 0;
    fd = static_cast<int>(sys_bpf(BPF_OBJ_GET, &attr));
  }
  return fd;
}

bool raw_info(int fd, void* info, std::uint32_t len) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = static_cast<std::uint32_t>(fd);
  attr.info.info_len = len;
  attr.info.info = reinterpret_cast<std::uintptr_t>(info);
  return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) == 0;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  bool ok() const { return fd >= 0; }
};

std::optional<RawProg> raw_prog_of_fd(int fd) {
  bpf_prog_info info{};
  std::uint32_t map_ids[64] = {};
  info.nr_map_ids = 64;
  info.map_ids = reinterpret_cast<std::uintptr_t>(map_ids);
  if (!raw_info(fd, &info, sizeof info)) return std::nullopt;
  RawProg p;
  p.id = info.id;
  p.name = std::string(info.name, strnlen(info.name, sizeof info.name));
  p.map_ids.assign(map_ids, map_ids + std::min<std::uint32_t>(info.nr_map_ids, 64));
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned char c : info.tag) p.tag += {hex[c >> 4], hex[c & 15]};
  return p;
}

// Runs fn on a short-lived thread inside /run/netns/<ns> (setns moves only the calling thread).
template <typename F>
void in_netns(const std::string& ns, F&& fn) {
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    if (ok) fn();
  });
  t.join();
}

}  // namespace

std::optional<std::vector<std::uint32_t>> xdp_ids_nl(int nl, unsigned ifindex) {
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
  } req{};
  static std::atomic<std::uint32_t> seq{1};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = seq++;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ifi.ifi_index = static_cast<int>(ifindex);
  if (::send(nl, &req, sizeof req, 0) < 0) return std::nullopt;
  alignas(nlmsghdr) static thread_local char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(nl, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_seq != req.nh.nlmsg_seq) continue;  // a stale answer
      if (nh->nlmsg_type == NLMSG_ERROR) return std::nullopt;
      if (nh->nlmsg_type != RTM_NEWLINK) continue;
      auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nh));
      int alen = static_cast<int>(IFLA_PAYLOAD(nh));
      std::vector<std::uint32_t> ids;
      for (auto* rta = IFLA_RTA(ifi); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
        if ((rta->rta_type & ~NLA_F_NESTED) != IFLA_XDP) continue;
        int xlen = static_cast<int>(RTA_PAYLOAD(rta));
        for (auto* x = static_cast<rtattr*>(RTA_DATA(rta)); RTA_OK(x, xlen); x = RTA_NEXT(x, xlen)) {
          const int t = x->rta_type;
          if (t == IFLA_XDP_PROG_ID || t == IFLA_XDP_DRV_PROG_ID || t == IFLA_XDP_SKB_PROG_ID ||
              t == IFLA_XDP_HW_PROG_ID) {
            std::uint32_t id = 0;
            std::memcpy(&id, RTA_DATA(x), sizeof id);
            if (id != 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
          }
        }
      }
      std::sort(ids.begin(), ids.end());
      return ids;
    }
  }
}

std::optional<std::vector<std::uint32_t>> tcx_ids_here(unsigned ifindex, bool ingress) {
  std::uint32_t ids[64] = {};
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.query.target_fd = ifindex;
  attr.query.attach_type = ingress ? kBpfTcxIngress : kBpfTcxEgress;
  attr.query.prog_ids = reinterpret_cast<std::uintptr_t>(ids);
  attr.query.prog_cnt = 64;
  if (sys_bpf(BPF_PROG_QUERY, &attr) != 0) return std::nullopt;
  std::vector<std::uint32_t> out(ids, ids + std::min<std::uint32_t>(attr.query.prog_cnt, 64));
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::string ids_text(const std::optional<std::vector<std::uint32_t>>& ids) {
  if (!ids) return "(error)";
  std::string s = "[";
  for (std::size_t i = 0; i < ids->size(); ++i) s += (i ? "," : "") + std::to_string((*ids)[i]);
  return s + "]";
}

}  // namespace

std::optional<std::uint32_t> raw_pinned_prog_id(const std::string& path) {
  Fd fd(raw_obj_get(path));
  if (!fd.ok()) return std::nullopt;
  const auto p = raw_prog_of_fd(fd.fd);
  if (!p) return std::nullopt;
  return p->id;
}

std::optional<std::uint32_t> raw_pinned_map_id(const std::string& path) {
  Fd fd(raw_obj_get(path));
  if (!fd.ok()) return std::nullopt;
  bpf_map_info info{};
  if (!raw_info(fd.fd, &info, sizeof info)) return std::nullopt;
  return info.id;
}

std::optional<RawLink> raw_pinned_link(const std::string& path) {
  Fd fd(raw_obj_get(path));
  if (!fd.ok()) return std::nullopt;
  bpf_link_info info{};
  if (!raw_info(fd.fd, &info, sizeof info)) return std::nullopt;
  return RawLink{info.id, info.prog_id, info.type};
}

std::optional<RawProg> raw_prog(std::uint32_t id) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_id = id;
  Fd fd(static_cast<int>(sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr)));
  if (!fd.ok()) return std::nullopt;
  return raw_prog_of_fd(fd.fd);
}

std::vector<RawProg> kernel_progs_named(const std::vector<std::string>& names) {
  std::vector<RawProg> out;
  std::uint32_t id = 0;
  for (;;) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.start_id = id;
    if (sys_bpf(BPF_PROG_GET_NEXT_ID, &attr) != 0) break;
    id = attr.next_id;
    const auto p = raw_prog(id);
    if (!p) continue;  // freed in between
    for (const auto& n : names)
      if (p->name == n.substr(0, 15)) out.push_back(*p);
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> raw_map_value0(const std::string& map_pin) {
  Fd fd(raw_obj_get(map_pin));
  if (!fd.ok()) return std::nullopt;
  bpf_map_info info{};
  if (!raw_info(fd.fd, &info, sizeof info) || info.key_size != 4) return std::nullopt;
  std::vector<std::uint8_t> value(info.value_size);
  std::uint32_t key = 0;
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_fd = static_cast<std::uint32_t>(fd.fd);
  attr.key = reinterpret_cast<std::uintptr_t>(&key);
  attr.value = reinterpret_cast<std::uintptr_t>(value.data());
  if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) != 0) return std::nullopt;
  return value;
}

std::optional<std::uint32_t> raw_map_u32(const std::string& map_pin) {
  const auto v = raw_map_value0(map_pin);
  if (!v || v->size() < 4) return std::nullopt;
  return static_cast<std::uint32_t>((*v)[0] | ((*v)[1] << 8) | ((*v)[2] << 16) | ((*v)[3] << 24));
}

std::optional<std::vector<std::uint32_t>> xdp_ids_netlink(const std::string& ns, const std::string& ifname) {
  std::optional<std::vector<std::uint32_t>> out;
  in_netns(ns, [&] {
    const unsigned ifindex = ::if_nametoindex(ifname.c_str());
    if (ifindex == 0) return;
    const int nl = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0) return;
    out = xdp_ids_nl(nl, ifindex);
    ::close(nl);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------

std::string HookTarget::label() const {
  const char* k = kind == Xdp ? "xdp" : kind == TcxIngress ? "tcx-ingress" : "tcx-egress";
  return std::string(k) + "@" + ifname + "(" + ns + ")";
}

HookSampler::HookSampler(std::vector<HookTarget> targets, std::chrono::microseconds period)
    : targets_(std::move(targets)), period_(period), start_(std::chrono::steady_clock::now()) {
  samples_.reserve(8192);
  thread_ = std::thread([this] { loop(); });
}

HookSampler::~HookSampler() { stop(); }

void HookSampler::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void HookSampler::loop() {
  std::vector<int> ns_fds;
  std::vector<int> nl_fds;
  for (const auto& t : targets_) {
    const int fd = ::open(("/run/netns/" + t.ns).c_str(), O_RDONLY | O_CLOEXEC);
    ns_fds.push_back(fd);
    int nl = -1;
    if (fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0)
      nl = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);  // lives in that netns
    nl_fds.push_back(nl);
    if (fd < 0 || nl < 0) thread_error_ += "cannot enter netns " + t.ns + "; ";
  }
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    HookSample s;
    s.t = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      std::optional<std::vector<std::uint32_t>> ids;
      if (ns_fds[i] >= 0 && ::setns(ns_fds[i], CLONE_NEWNET) == 0) {
        const unsigned ifindex = ::if_nametoindex(targets_[i].ifname.c_str());
        if (ifindex != 0) {
          if (targets_[i].kind == HookTarget::Xdp) ids = xdp_ids_nl(nl_fds[i], ifindex);
          else ids = tcx_ids_here(ifindex, targets_[i].kind == HookTarget::TcxIngress);
        }
      }
      s.ids.push_back(std::move(ids));
    }
    samples_.push_back(std::move(s));
    next += period_;
    const auto now = std::chrono::steady_clock::now();
    if (next > now) std::this_thread::sleep_until(next);
    else next = now;
  }
  for (int fd : ns_fds)
    if (fd >= 0) ::close(fd);
  for (int fd : nl_fds)
    if (fd >= 0) ::close(fd);
}

std::size_t HookSampler::empty_count(std::size_t i) const {
  std::size_t n = 0;
  for (const auto& s : samples_) n += s.ids[i] && s.ids[i]->empty();
  return n;
}

std::size_t HookSampler::error_count(std::size_t i) const {
  std::size_t n = 0;
  for (const auto& s : samples_) n += !s.ids[i];
  return n;
}

std::size_t HookSampler::max_count(std::size_t i) const {
  std::size_t n = 0;
  for (const auto& s : samples_)
    if (s.ids[i]) n = std::max(n, s.ids[i]->size());
  return n;
}

std::string HookSampler::timeline(std::size_t i) const {
  std::string out = targets_[i].label() + ": ";
  std::optional<std::optional<std::vector<std::uint32_t>>> prev;
  std::size_t run_len = 0;
  char buf[64];
  for (const auto& s : samples_) {
    if (prev && *prev == s.ids[i]) {
      ++run_len;
      continue;
    }
    if (prev) out += " (x" + std::to_string(run_len) + ") -> ";
    std::snprintf(buf, sizeof buf, "+%.1fms ",
                  std::chrono::duration<double, std::milli>(s.t - start_).count());
    out += buf + ids_text(s.ids[i]);
    prev = s.ids[i];
    run_len = 1;
  }
  if (prev) out += " (x" + std::to_string(run_len) + ")";
  return out;
}

std::string HookSampler::rate() const {
  if (samples_.size() < 2) return std::to_string(samples_.size()) + " samples " + thread_error_;
  const double ms = std::chrono::duration<double, std::milli>(samples_.back().t - samples_.front().t).count();
  char buf[128];
  std::snprintf(buf, sizeof buf, "%zu samples over %.0f ms (every %.2f ms)", samples_.size(), ms,
                ms / static_cast<double>(samples_.size() - 1));
  return buf + (thread_error_.empty() ? "" : "; " + thread_error_);
}

// ---------------------------------------------------------------------------------------------

BackgroundCommand::BackgroundCommand(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
}

bool BackgroundCommand::alive() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  if (!wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 2s, 5ms)) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
}

std::string Daemon::kill_hard() {
  if (pid_ <= 0) return "not running";
  if (!alive()) return exit_text_;
  stopped_ = true;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = status;
  exit_text_ = wait_text(status);
  return exit_text_;
}

::testing::AssertionResult make_renamed_object(const std::string& src, const std::string& old_fn,
                                               const std::string& new_fn, const std::string& dest) {
  if (old_fn.size() != new_fn.size())
    return ::testing::AssertionFailure() << "rename " << old_fn << " -> " << new_fn << ": lengths differ";
  std::string data = read_file(src);
  if (data.empty()) return ::testing::AssertionFailure() << "cannot read " << src;
  const std::string needle = std::string(1, '\0') + old_fn + std::string(1, '\0');
  const std::string repl = std::string(1, '\0') + new_fn + std::string(1, '\0');
  std::size_t n = 0;
  for (std::size_t pos = data.find(needle); pos != std::string::npos; pos = data.find(needle, pos + 1)) {
    data.replace(pos, needle.size(), repl);
    ++n;
  }
  if (n == 0) return ::testing::AssertionFailure() << "no '" << old_fn << "' string in " << src;
  std::ofstream out(dest, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return ::testing::AssertionFailure() << "cannot write " << dest;
  return ::testing::AssertionSuccess() << n << " occurrences renamed";
}

std::string add_veth(const std::string& ns1, const std::string& if1, const std::string& ns2,
                     const std::string& if2, const std::string& addr1, const std::string& addr2) {
  std::vector<std::vector<std::string>> steps = {
      {"ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2}};
  if (!addr1.empty()) steps.push_back({"ip", "-n", ns1, "addr", "add", addr1 + "/30", "dev", if1});
  if (!addr2.empty()) steps.push_back({"ip", "-n", ns2, "addr", "add", addr2 + "/30", "dev", if2});
  steps.push_back({"ip", "-n", ns1, "link", "set", if1, "up"});
  steps.push_back({"ip", "-n", ns2, "link", "set", if2, "up"});
  for (const auto& s : steps) {
    const auto r = run(s);
    if (r.rc != 0) {
      std::string cmd;
      for (const auto& w : s) cmd += w + " ";
      return cmd + "-> " + r.describe();
    }
  }
  return "";
}

ScopedBusAddress::ScopedBusAddress(const std::string& address) {
  if (const char* p = std::getenv("DBUS_SYSTEM_BUS_ADDRESS")) previous_ = p;
  ::setenv("DBUS_SYSTEM_BUS_ADDRESS", address.c_str(), 1);
}

ScopedBusAddress::~ScopedBusAddress() {
  if (previous_) ::setenv("DBUS_SYSTEM_BUS_ADDRESS", previous_->c_str(), 1);
  else ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
}

std::vector<std::string> list_tree(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    out.push_back(fs::relative(it->path(), root, ec).string());
  std::sort(out.begin(), out.end());
  return out;
}

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

// ---------------------------------------------------------------------------------------------

namespace it {

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
}

bool NotifySocket::Message::has(const std::string& line) const {
  std::stringstream ss(text);
  std::string l;
  while (std::getline(ss, l))
    if (l == line) return true;
  return false;
}

std::optional<std::string> NotifySocket::Message::value(const std::string& key) const {
  std::stringstream ss(text);
  std::string l;
  while (std::getline(ss, l))
    if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
  return std::nullopt;
}

NotifySocket::NotifySocket(const std::string& path, std::function<std::string()> on_first_ready)
    : path_(path), on_first_ready_(std::move(on_first_ready)) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    error_ = "socket path too long: " + path;
    return;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    error_ = std::string("bind ") + path + ": " + std::strerror(errno);
    return;
  }
  thread_ = std::thread([this] { loop(); });
}

NotifySocket::~NotifySocket() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  ::unlink(path_.c_str());
}

std::vector<NotifySocket::Message> NotifySocket::messages() {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

std::optional<std::string> NotifySocket::first_ready_check() {
  std::lock_guard<std::mutex> lock(mu_);
  return first_ready_check_;
}

std::size_t NotifySocket::count(const std::string& line) {
  std::size_t n = 0;
  for (const auto& m : messages()) n += m.has(line);
  return n;
}

std::string NotifySocket::dump() {
  std::string out;
  const auto msgs = messages();
  const auto t0 = msgs.empty() ? std::chrono::steady_clock::now() : msgs.front().t;
  for (const auto& m : msgs) {
    std::string text = m.text;
    for (auto& ch : text)
      if (ch == '\n') ch = '|';
    out += "  +" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(m.t - t0).count()) +
           "ms " + text + "\n";
  }
  return out.empty() ? "  (no datagrams)\n" : out;
}

void NotifySocket::loop() {
  char buf[4096];
  while (!stop_) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 20) <= 0) continue;
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) continue;
    Message m{std::chrono::steady_clock::now(), monotonic_usec(), std::string(buf, static_cast<std::size_t>(n))};
    std::optional<std::string> check;
    bool first_ready = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first_ready = m.has("READY=1") && !first_ready_check_;
    }
    if (first_ready) check = on_first_ready_();  // at once: the daemon keeps running meanwhile
    std::lock_guard<std::mutex> lock(mu_);
    if (check) first_ready_check_ = check;
    messages_.push_back(std::move(m));
  }
}

ForeignTcx::ForeignTcx(const std::string& ns, const std::string& ifname, const std::string& object) {
  prog_pin = "/sys/fs/bpf/" + unique_name("foreign-tcx-prog");
  link_pin = "/sys/fs/bpf/" + unique_name("foreign-tcx-link");
  const auto r = run({"bpftool", "prog", "load", object, prog_pin});
  if (r.rc != 0) {
    error = "bpftool prog load: " + r.describe();
    return;
  }
  std::thread t([&] {
    const int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) {
      error = "setns " + ns;
      return;
    }
    ::close(nsfd);
    union bpf_attr get;
    std::memset(&get, 0, sizeof get);
    get.pathname = reinterpret_cast<std::uintptr_t>(prog_pin.c_str());
    const int pfd = static_cast<int>(::syscall(SYS_bpf, BPF_OBJ_GET, &get, sizeof get));
    if (pfd < 0) {
      error = "open " + prog_pin + ": " + std::strerror(errno);
      return;
    }
    alignas(8) unsigned char attr[128] = {};
    const std::uint32_t fd32 = static_cast<std::uint32_t>(pfd), ifindex = ::if_nametoindex(ifname.c_str()),
                        type = 46;  // BPF_TCX_INGRESS (Linux 6.6; Debian's uapi headers predate it)
    std::memcpy(attr + 0, &fd32, 4);
    std::memcpy(attr + 4, &ifindex, 4);
    std::memcpy(attr + 8, &type, 4);
    const int lfd = static_cast<int>(::syscall(SYS_bpf, BPF_LINK_CREATE, attr, sizeof attr));
    ::close(pfd);
    if (lfd < 0) {
      error = std::string("BPF_LINK_CREATE tcx: ") + std::strerror(errno);
      return;
    }
    union bpf_attr pin;
    std::memset(&pin, 0, sizeof pin);
    pin.pathname = reinterpret_cast<std::uintptr_t>(link_pin.c_str());
    pin.bpf_fd = static_cast<std::uint32_t>(lfd);
    if (::syscall(SYS_bpf, BPF_OBJ_PIN, &pin, sizeof pin) != 0) error = std::string("pin link: ") + std::strerror(errno);
    ::close(lfd);
  });
  t.join();
  if (!error.empty()) return;
  prog_id = raw_pinned_prog_id(prog_pin).value_or(0);
  if (auto l = raw_pinned_link(link_pin)) link_id = l->id;
}
ForeignTcx::~ForeignTcx() {
  ::unlink(link_pin.c_str());
  ::unlink(prog_pin.c_str());
}

}  // namespace it
