// Result type and typed errors shared by every stage.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace bpfrec {

/// An error that names what failed: `message` is a complete sentence fragment such as
/// "load program 'xdp-counter': Permission denied"; `code` is the positive errno when a system
/// call or libbpf returned one, else 0.
struct Error {
  int code = 0;
  std::string message;

  /// Builds an Error from a positive or negative errno and a context; appends strerror(code).
  static Error from_errno(int err, std::string context) {
    if (err < 0) err = -err;
    return Error{err, fmt::format("{}: {}", context, std::strerror(err))};
  }
};

/// std::expected<T, Error>, [[nodiscard]]: a result that is dropped is a compile error (-Werror),
/// so every ignored failure is a visible `(void)` with a reason next to it. A class rather than
/// bpftrace's alias, because an alias cannot carry the attribute. g++ 12 has std::expected
/// under -std=c++2b, without and_then/transform.
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(std::expected<T, Error> e) : std::expected<T, Error>(std::move(e)) {}  // NOLINT: implicit by design
};

/// Shorthand for returning an error from a function that returns Result<T>.
inline std::unexpected<Error> fail(Error e) { return std::unexpected<Error>(std::move(e)); }

template <typename... Args>
std::unexpected<Error> fail(fmt::format_string<Args...> f, Args &&...args) {
  return std::unexpected<Error>(Error{0, fmt::format(f, std::forward<Args>(args)...)});
}

/// Error from errno (positive or negative), with the context formatted in front of strerror.
template <typename... Args>
std::unexpected<Error> fail_errno(int err, fmt::format_string<Args...> f, Args &&...args) {
  return std::unexpected<Error>(Error::from_errno(err, fmt::format(f, std::forward<Args>(args)...)));
}

}  // namespace bpfrec
