#include "kernel/features.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <optional>

#include "freplace_probe.h"
#include "manifest/object_info.h"
#include "util/unique_fd.h"

namespace bpfrec {
namespace {

Result<BpfObjectPtr> open_probe(const char *name) {
  DECLARE_LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
  BpfObjectPtr obj(bpf_object__open_mem(kFreplaceProbeObject, kFreplaceProbeObject_size, &opts));
  if (!obj) return fail_errno(errno, "open the embedded freplace probe");
  return obj;
}

Result<void> run_probe() {
  auto target = open_probe("probe_target");
  if (!target) return std::unexpected(target.error());
  bpf_program *ext_in_target = bpf_object__find_program_by_name(target->get(), "probe_ext");
  if (ext_in_target) (void)bpf_program__set_autoload(ext_in_target, false);
  if (int err = bpf_object__load(target->get())) return fail_errno(-err, "load an XDP program with BTF");
  const int target_fd = bpf_program__fd(bpf_object__find_program_by_name(target->get(), "probe_target"));

  auto ext = open_probe("probe_ext");
  if (!ext) return std::unexpected(ext.error());
  bpf_program *tp = bpf_object__find_program_by_name(ext->get(), "probe_target");
  bpf_program *ep = bpf_object__find_program_by_name(ext->get(), "probe_ext");
  if (!tp || !ep) return fail("the embedded freplace probe lacks its programs");
  (void)bpf_program__set_autoload(tp, false);
  if (int err = bpf_program__set_attach_target(ep, target_fd, "probe_slot"))
    return fail_errno(-err, "set freplace target");
  if (int err = bpf_object__load(ext->get())) {
    if (err == -EPERM)
      return fail_errno(EPERM, "load a BPF_PROG_TYPE_EXT program (lockdown or missing CONFIG refuses freplace)");
    return fail_errno(-err, "load a BPF_PROG_TYPE_EXT program");
  }
  // For EXT programs the kernel ignores the attach type and, with target 0, links to the
  // load-time target (as libxdp does it).
  UniqueFd link(bpf_link_create(bpf_program__fd(ep), 0, static_cast<bpf_attach_type>(0), nullptr));
  if (!link.valid()) return fail_errno(errno, "link a BPF_PROG_TYPE_EXT program");
  return {};
}

}  // namespace

Result<void> probe_freplace() {
  static std::optional<Result<void>> cached;
  if (!cached) cached = run_probe();
  return *cached;
}

}  // namespace bpfrec
