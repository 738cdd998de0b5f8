// The BPF objects the tests load: where the build put them, and renamed copies of them.
#pragma once

#include <gtest/gtest.h>

#include <string>

#ifndef BPF_OBJ_DIR
#error "BPF_OBJ_DIR must be defined by the build"
#endif

namespace it {

/// The built BPF object `name` (e.g. "xdp_counter"): BPF_OBJ_DIR/<name>.bpf.o.
inline std::string bpf_object_path(const std::string& name) {
  return std::string(BPF_OBJ_DIR) + "/" + name + ".bpf.o";
}

/// Copies the BPF object `src` to `dest` with the function (ELF symbol, BTF and debug strings)
/// `old_fn` renamed to `new_fn` (same length; every NUL-delimited occurrence). The copy has
/// different bytes (sha256), and its program gets a kernel name no other test uses, so the
/// kernel's whole program list can be searched for leaks without seeing other loaders' programs.
::testing::AssertionResult make_renamed_object(const std::string& src, const std::string& old_fn,
                                               const std::string& new_fn, const std::string& dest);

}  // namespace it
