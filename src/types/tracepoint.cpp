// tracepoint (BPF_PROG_TYPE_TRACEPOINT, a perf link on a tracefs event "category/name") and
// raw_tracepoint (BPF_PROG_TYPE_RAW_TRACEPOINT, a raw tracepoint link by name).
#include <linux/bpf.h>

#include <fmt/format.h>

#include "types/attach_keys.h"
#include "types/type.h"

namespace bpfrec::types {

namespace {

void tracepoint(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "tracepoint")) {
    auto slash = s->find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == s->size() ||
        s->find('/', slash + 1) != std::string::npos)
      r.error(v, fmt::format("'tracepoint' = \"{}\" must be \"category/name\"", *s));
    else keys::params<TracepointAttach>(a).tracepoint = *s;
  }
}

void raw_tracepoint(TomlReader &r, const toml::node &v, AttachSpec &a) {
  if (auto s = r.str(v, "tracepoint")) {
    if (!keys::valid_kernel_symbol(*s))
      r.error(v, fmt::format("'tracepoint' = \"{}\" must be a raw tracepoint name such as \"sys_enter\" "
                             "(letters, digits, '_', '.')", *s));
    else keys::params<TracepointAttach>(a).tracepoint = *s;
  }
}

std::string label(const AttachSpec &a) { return keys::params<TracepointAttach>(a).tracepoint; }

void tp_canonical(const AttachSpec &a, std::string &o) { o += "tp=", o += label(a); }
void raw_tp_canonical(const AttachSpec &a, std::string &o) { o += "raw_tp=", o += label(a); }

}  // namespace

const TypeDescriptor &tracepoint() {
  static const TypeDescriptor d{
      .type = ProgramType::Tracepoint,
      .name = "tracepoint",
      .prog_type = BPF_PROG_TYPE_TRACEPOINT,
      .sections = {"tracepoint", "tp"},
      .make_params = keys::make<TracepointAttach>,
      .keys = {{"tracepoint", tracepoint}},
      .required = {{"tracepoint"}},
      .attacher = AttacherKind::Tracepoint,
      .canonical = tp_canonical,
      .label = label,
  };
  return d;
}

const TypeDescriptor &raw_tracepoint() {
  static const TypeDescriptor d{
      .type = ProgramType::RawTracepoint,
      .name = "raw_tracepoint",
      .prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT,
      .sections = {"raw_tracepoint", "raw_tp"},
      .make_params = keys::make<TracepointAttach>,
      .keys = {{"tracepoint", raw_tracepoint}},
      .required = {{"tracepoint"}},
      .probe = ProbeKind::ProgType,
      .attacher = AttacherKind::RawTracepoint,
      .canonical = raw_tp_canonical,
      .label = label,
  };
  return d;
}

}  // namespace bpfrec::types
