// SHA-256 digests through OpenSSL's EVP interface.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace bpfrec {

/// Lower-case hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

/// Lower-case hex SHA-256 of the file at `path`, read in 64 KiB chunks.
/// Errors: open/read failures with errno.
Result<std::string> sha256_file(const std::string &path);

}  // namespace bpfrec
