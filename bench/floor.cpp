// bench-floor: the floor the benchmark compares the daemon with. For every target it does, in
// this one process and with libbpf alone, what the daemon does for one program: open the object,
// load it, pin the program and its maps, attach, pin the link (XDP through netlink has none).
// Nothing else: no manifest, no hashing, no record, no D-Bus.
//
//   bench-floor xdp|tcx|tracepoint OBJECT FUNCTION PIN_DIR [--netns PATH] TARGET...
//
// TARGET is an interface name (xdp: generic mode; tcx: ingress) or a tracepoint
// "category/name". Program i is pinned under PIN_DIR/p<i>/ (prog, maps/, link). Prints
// "floor_us TOTAL FIRST": microseconds from before the first open (and setns) until the last
// attach and pin, and for the first program alone. Exit 1 with a message on any failure.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

// Not in libbpf 1.1.2's UAPI copy: the TCX attach type (Linux 6.6).
constexpr unsigned kBpfTcxIngress = 46;

[[noreturn]] void die(const std::string& what, int err) {
  std::fprintf(stderr, "bench-floor: %s: %s\n", what.c_str(), std::strerror(err));
  std::exit(1);
}

// bpf_object__close() frees libbpf's object and closes its fds; the pins keep everything alive.
struct ObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};

void one(const std::string& type, const std::string& object, const std::string& function,
         const std::string& dir, const std::string& target) {
  std::unique_ptr<bpf_object, ObjectCloser> obj(bpf_object__open_file(object.c_str(), nullptr));
  if (!obj) die("open " + object, errno);
  bpf_program* prog = bpf_object__find_program_by_name(obj.get(), function.c_str());  // owned by obj
  if (!prog) die("no function " + function, ENOENT);
  if (int r = bpf_object__load(obj.get())) die("load " + object, -r);
  if (::mkdir(dir.c_str(), 0700) != 0) die("mkdir " + dir, errno);
  if (int r = bpf_program__pin(prog, (dir + "/prog").c_str())) die("pin prog", -r);
  if (int r = bpf_object__pin_maps(obj.get(), (dir + "/maps").c_str())) die("pin maps", -r);
  const int prog_fd = bpf_program__fd(prog);
  if (type == "xdp") {
    const unsigned idx = ::if_nametoindex(target.c_str());
    if (idx == 0) die("interface " + target, errno);
    if (int r = bpf_xdp_attach(static_cast<int>(idx), prog_fd, XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr))
      die("attach XDP to " + target, -r);
  } else if (type == "tcx") {
    const unsigned idx = ::if_nametoindex(target.c_str());
    if (idx == 0) die("interface " + target, errno);
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.link_create.prog_fd = static_cast<unsigned>(prog_fd);
    attr.link_create.target_ifindex = idx;
    attr.link_create.attach_type = static_cast<bpf_attach_type>(kBpfTcxIngress);
    const int link = static_cast<int>(::syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr));
    if (link < 0) die("attach TCX to " + target, errno);
    if (bpf_obj_pin(link, (dir + "/link").c_str()) != 0) die("pin link", errno);
    ::close(link);
  } else {
    const auto slash = target.find('/');
    if (slash == std::string::npos) die("tracepoint " + target, EINVAL);
    bpf_link* link = bpf_program__attach_tracepoint(prog, target.substr(0, slash).c_str(),
                                                    target.substr(slash + 1).c_str());
    if (!link) die("attach tracepoint " + target, errno);
    if (int r = bpf_link__pin(link, (dir + "/link").c_str())) die("pin link", -r);
    bpf_link__disconnect(link);  // the pin keeps it attached after destroy
    bpf_link__destroy(link);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: bench-floor xdp|tcx|tracepoint OBJECT FUNCTION PIN_DIR [--netns PATH] TARGET...\n");
    return 2;
  }
  const std::string type = argv[1], object = argv[2], function = argv[3], pin_dir = argv[4];
  int i = 5;
  std::string netns;
  if (std::string(argv[i]) == "--netns" && i + 1 < argc) {
    netns = argv[i + 1];
    i += 2;
  }
  const std::vector<std::string> targets(argv + i, argv + argc);
  libbpf_set_print(nullptr);
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (!netns.empty()) {
    const int fd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) die("setns " + netns, errno);
    ::close(fd);
  }
  ::mkdir(pin_dir.c_str(), 0700);
  auto first = clock::duration::zero();
  for (std::size_t k = 0; k < targets.size(); ++k) {
    one(type, object, function, pin_dir + "/p" + std::to_string(k), targets[k]);
    if (k == 0) first = clock::now() - t0;
  }
  const auto total = clock::now() - t0;
  using us = std::chrono::microseconds;
  std::printf("floor_us %lld %lld\n", static_cast<long long>(std::chrono::duration_cast<us>(total).count()),
              static_cast<long long>(std::chrono::duration_cast<us>(first).count()));
  return 0;
}
