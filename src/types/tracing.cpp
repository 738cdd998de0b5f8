// fentry and fexit (BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY/FEXIT): the kernel function is the
// program's attach_btf_id, bound when it is loaded, so a program takes exactly one attach point
// and a changed `function` loads it again; attached by a tracing link (Linux 5.5).
#include <linux/bpf.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

// The kernel function of an fentry or fexit attach point.
std::string traced_function(const AttachSpec &a) { return keys::params<TracingAttach>(a).function; }

// fentry and fexit differ only in their name, attach type and sections.
TypeDescriptor trampoline(ProgramType type, std::string_view name, uint32_t attach_type,
                          std::vector<std::string_view> sections) {
  return TypeDescriptor{
      .type = type,
      .name = name,
      .prog_type = BPF_PROG_TYPE_TRACING,
      .expected_attach_type = attach_type,
      .sections = std::move(sections),
      .make_params = keys::make<TracingAttach>,
      .keys = {{"function", keys::kernel_function<TracingAttach>}},
      .required = {{"function"}},
      .target_fixed_at_load = true,
      .load_target_key = "function",
      .load_target = traced_function,
      .probe = ProbeKind::Trampoline,
      .attacher = AttacherKind::Trampoline,
      .canonical = [](const AttachSpec &a, std::string &o) { o += "fn=", o += traced_function(a); },
      .label = traced_function,
  };
}

}  // namespace

const TypeDescriptor &fentry() {
  static const TypeDescriptor d = trampoline(ProgramType::Fentry, "fentry", BPF_TRACE_FENTRY, {"fentry", "fentry.s"});
  return d;
}

const TypeDescriptor &fexit() {
  static const TypeDescriptor d = trampoline(ProgramType::Fexit, "fexit", BPF_TRACE_FEXIT, {"fexit", "fexit.s"});
  return d;
}

}  // namespace bpfrec::types
