// The SHA-256 of a test's file, computed apart from the code under test (load/files.h reads
// bytecode with its own open and checks), so that tests compare against an independent digest.
#pragma once

#include <fstream>
#include <iterator>
#include <string>

#include "util/result.h"
#include "util/sha256.h"

namespace bpfrec {

/// Lower-case hex SHA-256 of the regular file at `path`, read whole; an error if it cannot be
/// opened. For test files only: no size cap and no file-type check.
inline Result<std::string> sha256_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot open {}", path);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256_hex(data);
}

}  // namespace bpfrec
