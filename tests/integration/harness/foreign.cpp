#include "harness/foreign.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "harness/env.h"
#include "harness/kernel_view.h"
#include "harness/process.h"

namespace it {

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
