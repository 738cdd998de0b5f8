// Result type and typed errors shared by every stage.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace bpfrec {

/// What kind of failure an Error is, for the callers that act on it (status, backoff, the CLI's
/// exit status) instead of on errno values. By errno (kind_of_errno()) unless the error says
/// otherwise.
enum class ErrorKind {
  Other,        ///< none of the below (no errno, or one not listed)
  Missing,      ///< what an attach point names is not there yet: an interface (ENODEV, ENXIO);
                ///< the attach point is pending and tried again when it appears, without backoff
  NotFound,     ///< a file, pin, symbol, namespace or library is not there (ENOENT, ENOTDIR, ESRCH)
  Permission,   ///< refused by permissions, capabilities or lockdown (EPERM, EACCES)
  Unsupported,  ///< this kernel or node lacks it (EOPNOTSUPP/ENOTSUP, ENOSYS, EAFNOSUPPORT, EPROTONOSUPPORT)
  Busy,         ///< the hook or name is held by something else (EEXIST, EBUSY)
  Exhausted,    ///< out of a resource: memory, handles, descriptors, buffer room (ENOMEM, ENOSPC,
                ///< EMFILE, ENFILE, ENOBUFS)
  Invalid,      ///< the input is wrong: a manifest value, an object, a verifier rejection (EINVAL,
                ///< E2BIG, ERANGE, EFBIG, ENOEXEC, EBADMSG, EBADF on a pin of the wrong type)
  Transient,    ///< try again (EAGAIN, EINTR, ETIMEDOUT)
  Changed,      ///< what was read changed under us (ESTALE): read it again
};

/// The kind an errno value means (the lists above); 0 and unlisted values: Other.
constexpr ErrorKind kind_of_errno(int err) {
  if (err < 0) err = -err;
  switch (err) {
    case ENODEV: case ENXIO: return ErrorKind::Missing;
    case ENOENT: case ENOTDIR: case ESRCH: return ErrorKind::NotFound;
    case EPERM: case EACCES: return ErrorKind::Permission;
    case EOPNOTSUPP: case ENOSYS: case EAFNOSUPPORT: case EPROTONOSUPPORT: return ErrorKind::Unsupported;
    case EEXIST: case EBUSY: return ErrorKind::Busy;
    case ENOMEM: case ENOSPC: case EMFILE: case ENFILE: case ENOBUFS: return ErrorKind::Exhausted;
    case EINVAL: case E2BIG: case ERANGE: case EFBIG: case ENOEXEC: case EBADMSG: case EBADF: return ErrorKind::Invalid;
    case EAGAIN: case EINTR: case ETIMEDOUT: return ErrorKind::Transient;
    case ESTALE: return ErrorKind::Changed;
    default: return ErrorKind::Other;
  }
}

/// "missing", "not_found", "permission", "unsupported", "busy", "exhausted", "invalid",
/// "transient", "changed", "other": as status documents show it (`error_kind`).
std::string_view to_string(ErrorKind k);

/// An error that names what failed: `message` is a complete sentence fragment such as
/// "load program 'xdp-counter': Permission denied"; `code` is the positive errno when a system
/// call or libbpf returned one, else 0; kind() says what kind of failure it is.
struct Error {
  int code = 0;
  std::string message;
  /// Set where the errno alone would name another kind (or there is no errno); nullopt:
  /// kind_of_errno(code).
  std::optional<ErrorKind> explicit_kind;

  ErrorKind kind() const { return explicit_kind.value_or(kind_of_errno(code)); }

  /// The same error (code and kind) with another message, e.g. one with more context in front.
  Error with_message(std::string m) const {
    Error e = *this;
    e.message = std::move(m);
    return e;
  }
  /// This error with its kind set explicitly (e.g. Unsupported for a probed kernel feature whose
  /// errno, often EINVAL or EPERM, would say something else); the message and code are kept.
  Error with_kind(ErrorKind k) const {
    Error e = *this;
    e.explicit_kind = k;
    return e;
  }

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
