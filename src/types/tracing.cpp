// fentry and fexit (BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY/FEXIT): the kernel function is the
// program's attach_btf_id, bound when it is loaded, so a program takes exactly one attach point
// and a changed `function` loads it again; attached by a tracing link (Linux 5.5).
#include <linux/bpf.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

const TypeDescriptor &fentry() {
  static const TypeDescriptor d{
      .type = ProgramType::Fentry,
      .name = "fentry",
      .prog_type = BPF_PROG_TYPE_TRACING,
      .expected_attach_type = BPF_TRACE_FENTRY,
      .sections = {"fentry", "fentry.s"},
      .keys = {{"function", keys::kernel_function}},
      .required = {{"function"}},
      .target_fixed_at_load = true,
      .load_target_key = "function",
      .load_target = [](const AttachSpec &a) { return a.function; },
      .probe = ProbeKind::Trampoline,
      .attacher = AttacherKind::Trampoline,
      .canonical = [](const AttachSpec &a, std::string &o) { o += "fn=", o += a.function; },
      .label = [](const AttachSpec &a) { return a.function; },
  };
  return d;
}

const TypeDescriptor &fexit() {
  static const TypeDescriptor d{
      .type = ProgramType::Fexit,
      .name = "fexit",
      .prog_type = BPF_PROG_TYPE_TRACING,
      .expected_attach_type = BPF_TRACE_FEXIT,
      .sections = {"fexit", "fexit.s"},
      .keys = {{"function", keys::kernel_function}},
      .required = {{"function"}},
      .target_fixed_at_load = true,
      .load_target_key = "function",
      .load_target = [](const AttachSpec &a) { return a.function; },
      .probe = ProbeKind::Trampoline,
      .attacher = AttacherKind::Trampoline,
      .canonical = [](const AttachSpec &a, std::string &o) { o += "fn=", o += a.function; },
      .label = [](const AttachSpec &a) { return a.function; },
  };
  return d;
}

}  // namespace bpfrec::types
