// Stable identities of programs and attach points, used to diff desired against observed.
#pragma once

#include <string>

#include "manifest/manifest.h"

namespace bpfrec {

/// SHA-256 (hex) over everything that requires reloading the program when it changes: type,
/// bpf_function, the bytecode's actual sha256 and global_data; for fentry/fexit also the attach
/// point's kernel function (bound at load time); `map_group` when the manifest names it. Not
/// metadata, not (other) attach points.
std::string program_digest(const ProgramSpec &p);

/// 16 hex digits of SHA-256 over AttachSpec::canonical(); the attachment's pin name.
std::string attach_key(ProgramType t, const AttachSpec &a);

}  // namespace bpfrec
