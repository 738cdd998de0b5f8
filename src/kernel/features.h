// Kernel features, probed (never inferred from the version string: RHEL kernels report 5.14
// with many later features backported, and lockdown or a missing CONFIG_ refuse features that
// the version would promise).
#pragma once

#include "util/result.h"

namespace bpfrec {

/// Whether this kernel loads and links freplace (BPF_PROG_TYPE_EXT) programs, which libxdp's
/// multi-program dispatcher and our TC dispatcher need. Probed once per process by loading an
/// embedded XDP program and an EXT program that replaces its global function, then linking it
/// (bpf_link_create, BPF_TRACE_FREPLACE). The result is cached.
/// Errors: why not, e.g. "EPERM: Operation not permitted (kernel lockdown refuses freplace)".
Result<void> probe_freplace();

}  // namespace bpfrec
