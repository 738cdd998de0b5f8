// fentry and fexit (BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY/FEXIT): the kernel function is the
// program's attach_btf_id, bound when it is loaded, so a program takes exactly one attach point
// and a changed `function` loads it again; attached by a tracing link (Linux 5.5).
#include <linux/bpf.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

// fentry and fexit differ only in their name, attach type and sections.
TypeDescriptor trampoline(ProgramType type, std::string_view name, uint32_t attach_type,
                          std::vector<std::string_view> sections) {
  return TypeDescriptor{
      .type = type,
      .name = name,
      .prog_type = BPF_PROG_TYPE_TRACING,
      .expected_attach_type = attach_type,
      .sections = std::move(sections),
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
