// lsm (BPF_PROG_TYPE_LSM, BPF_LSM_MAC): a program on an LSM hook ("file_open"), run where the
// kernel's bpf LSM calls bpf_lsm_<hook>. Like fentry the hook is the program's attach_btf_id,
// bound when it is loaded, so a program takes exactly one attach point and a changed `hook`
// loads it again; attached by a tracing link (Linux 5.7). The kernel loads and attaches such
// programs even when the bpf LSM is not active, they then never run: the probe checks that too.
#include <linux/bpf.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

const TypeDescriptor &lsm() {
  static const TypeDescriptor d{
      .type = ProgramType::Lsm,
      .name = "lsm",
      .prog_type = BPF_PROG_TYPE_LSM,
      .expected_attach_type = BPF_LSM_MAC,
      .sections = {"lsm", "lsm.s"},
      .make_params = keys::make<LsmAttach>,
      .keys = {{"hook", keys::lsm_hook}},
      .required = {{"hook"}},
      .target_fixed_at_load = true,
      // libbpf 1.1.2 (find_attach_btf_id) looks up "bpf_lsm_" + the name for BPF_LSM_MAC.
      .load_target_key = "hook",
      .load_target = [](const AttachSpec &a) { return keys::params<LsmAttach>(a).hook; },
      .load_target_btf_prefix = "bpf_lsm_",
      .probe = ProbeKind::Lsm,
      .attacher = AttacherKind::Trampoline,
      .canonical = [](const AttachSpec &a, std::string &o) { o += "hook=", o += keys::params<LsmAttach>(a).hook; },
      .label = [](const AttachSpec &a) { return keys::params<LsmAttach>(a).hook; },
  };
  return d;
}

}  // namespace bpfrec::types
