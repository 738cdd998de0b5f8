#include "harness/objects.h"

#include <cstddef>
#include <fstream>

#include "harness/files.h"

namespace it {

::testing::AssertionResult make_renamed_object(const std::string& src, const std::string& old_fn,
                                               const std::string& new_fn, const std::string& dest) {
  if (old_fn.size() != new_fn.size())
    return ::testing::AssertionFailure() << "rename " << old_fn << " -> " << new_fn << ": lengths differ";
  std::string data = read_file(src);
  if (data.empty()) return ::testing::AssertionFailure() << "cannot read " << src;
  const std::string needle = std::string(1, '\0') + old_fn + std::string(1, '\0');
  const std::string repl = std::string(1, '\0') + new_fn + std::string(1, '\0');
  std::size_t n = 0;
  for (std::size_t pos = data.find(needle); pos != std::string::npos; pos = data.find(needle, pos + 1)) {
    data.replace(pos, needle.size(), repl);
    ++n;
  }
  if (n == 0) return ::testing::AssertionFailure() << "no '" << old_fn << "' string in " << src;
  std::ofstream out(dest, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return ::testing::AssertionFailure() << "cannot write " << dest;
  return ::testing::AssertionSuccess() << n << " occurrences renamed";
}

}  // namespace it
