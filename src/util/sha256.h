// SHA-256 digests through OpenSSL's EVP interface.
#pragma once

#include <string>
#include <string_view>

namespace bpfrec {

/// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

}  // namespace bpfrec
