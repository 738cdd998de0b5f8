// uprobe, uretprobe (a user function or offset in a binary or library) and kprobe, kretprobe
// (a kernel function), all BPF_PROG_TYPE_KPROBE on a perf link; the section family is shared,
// the manifest's type decides entry or return.
#include <linux/bpf.h>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"
#include "util/library_name.h"

namespace bpfrec::types {

namespace {

void target(TomlReader &r, const toml::node &v, AttachSpec &a) {
  // An absolute path, or a library name resolved on the node when it is attached
  // (util/ld_cache.h at attach: the process's maps with `pid`, else /etc/ld.so.cache), as bpfman does.
  if (auto s = r.str(v, "target")) {
    auto &u = keys::params<UprobeAttach>(a);
    u.target_pos = pos_of(v.source());
    if (!s->empty() && (*s)[0] == '/') u.target = *s;
    else if (is_library_name(*s)) u.target = *s;
    else
      r.error(v, "'target' must be an absolute path of a binary or library, or a library name such as "
                 "\"libc\" (letters, digits, '.', '_', '+', '-'; no '/')");
  }
}

void pid(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto n = r.integer(v, "pid", 1, INT32_MAX)) keys::params<UprobeAttach>(a).pid = static_cast<int32_t>(*n);
}

void uprobe_canonical(const AttachSpec &s, std::string &o) {
  const auto &a = keys::params<UprobeAttach>(s);
  o += "target=", o += a.target, o += "\nfn=", o += a.function, o += "\noff=";
  if (a.offset) o += std::to_string(*a.offset);
  o += "\npid=";
  if (a.pid) o += std::to_string(*a.pid);
}

std::string uprobe_label(const AttachSpec &spec) {
  const auto &a = keys::params<UprobeAttach>(spec);
  std::string s = a.target + ":" + a.function;
  if (a.offset) s += fmt::format("+{:#x}", *a.offset);
  if (a.pid) s += fmt::format(" (pid {})", *a.pid);
  return s;
}

void kprobe_canonical(const AttachSpec &s, std::string &o) {
  const auto &a = keys::params<KprobeAttach>(s);
  o += "fn=", o += a.function, o += "\noff=";
  if (a.offset) o += std::to_string(*a.offset);
}

std::string kprobe_label(const AttachSpec &s) {
  const auto &a = keys::params<KprobeAttach>(s);
  return a.offset ? fmt::format("{}+{:#x}", a.function, *a.offset) : a.function;
}

}  // namespace

const TypeDescriptor &uprobe() {
  static const TypeDescriptor d{
      .type = ProgramType::Uprobe,
      .name = "uprobe",
      .prog_type = BPF_PROG_TYPE_KPROBE,
      .sections = {"uprobe", "uretprobe", "uprobe.s", "uretprobe.s"},
      .make_params = keys::make<UprobeAttach>,
      .keys = {{"target", target},
               {"function", keys::user_function},
               {"offset", keys::offset<UprobeAttach>},
               {"pid", pid}},
      .required = {{"target"}, {"function", "offset"}},
      .attacher = AttacherKind::Uprobe,
      .canonical = uprobe_canonical,
      .label = uprobe_label,
  };
  return d;
}

const TypeDescriptor &uretprobe() {
  static const TypeDescriptor d{
      .type = ProgramType::Uretprobe,
      .name = "uretprobe",
      .prog_type = BPF_PROG_TYPE_KPROBE,
      .sections = {"uprobe", "uretprobe", "uprobe.s", "uretprobe.s"},
      .make_params = keys::make<UprobeAttach>,
      .keys = {{"target", target},
               {"function", keys::user_function},
               {"offset", keys::offset<UprobeAttach>},
               {"pid", pid}},
      .required = {{"target"}, {"function", "offset"}},
      .retprobe = true,
      .attacher = AttacherKind::Uprobe,
      .canonical = uprobe_canonical,
      .label = uprobe_label,
  };
  return d;
}

const TypeDescriptor &kprobe() {
  static const TypeDescriptor d{
      .type = ProgramType::Kprobe,
      .name = "kprobe",
      .prog_type = BPF_PROG_TYPE_KPROBE,
      .sections = {"kprobe", "kretprobe", "ksyscall", "kretsyscall"},
      .make_params = keys::make<KprobeAttach>,
      .keys = {{"function", keys::kernel_function<KprobeAttach>}, {"offset", keys::offset<KprobeAttach>}},
      .required = {{"function"}},
      .probe = ProbeKind::KprobePmu,
      .attacher = AttacherKind::Kprobe,
      .canonical = kprobe_canonical,
      .label = kprobe_label,
  };
  return d;
}

// A kretprobe has no offset: the kernel probes the function's return.
const TypeDescriptor &kretprobe() {
  static const TypeDescriptor d{
      .type = ProgramType::Kretprobe,
      .name = "kretprobe",
      .prog_type = BPF_PROG_TYPE_KPROBE,
      .sections = {"kprobe", "kretprobe", "ksyscall", "kretsyscall"},
      .make_params = keys::make<KprobeAttach>,
      .keys = {{"function", keys::kernel_function<KprobeAttach>}},
      .required = {{"function"}},
      .retprobe = true,
      .probe = ProbeKind::KretprobePmu,
      .attacher = AttacherKind::Kprobe,
      .canonical = kprobe_canonical,
      .label = kprobe_label,
  };
  return d;
}

}  // namespace bpfrec::types
