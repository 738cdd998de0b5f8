// SHA-256 digests through OpenSSL's EVP interface.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace bpfrec {

/// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

/// Whether `s` is what sha256_hex() writes: 64 lower-case hex digits (the hex part of an OCI
/// digest "sha256:<hex>", image-spec descriptor.md, and of a manifest's `sha256`). Inline: the
/// manifest parser's fuzz target links no OpenSSL.
inline bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace bpfrec
