// The portable build's own std::__glibcxx_assert_fail (see rhel9_abi.h): g++ 12 with
// _GLIBCXX_ASSERTIONS calls it on a failed libstdc++ precondition (operator[] out of range,
// front() of an empty vector, ...); libstdc++.so.6 exports it only at GLIBCXX_3.4.30, which
// RHEL 9's gcc 11 libstdc++ lacks. A definition in the executable satisfies every reference at
// link time, so none is imported. Linked into the portable binary only (src/cli/meson.build).
#include <cstdio>
#include <cstdlib>

namespace std {

/// Prints what libstdc++'s own definition prints (src/c++11/debug.cc, gcc 12) and aborts.
/// `file`, `function` and `condition` may be null (then only "undefined behavior" is said).
[[noreturn]] void __glibcxx_assert_fail(const char *file, int line, const char *function,
                                        const char *condition) noexcept {
  if (file && function && condition)
    std::fprintf(stderr, "%s:%d: %s: Assertion '%s' failed.\n", file, line, function, condition);
  else if (function)
    std::fprintf(stderr, "%s: Undefined behavior detected.\n", function);
  std::abort();
}

}  // namespace std
