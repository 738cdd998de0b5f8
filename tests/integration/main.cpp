// Custom main: the private mount namespace (bpffs, tracefs, /run/netns) has to be set up before
// gtest starts anything, and every daemon the tests start inherits it.
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <cstdio>

#include "harness.h"

namespace {
// Records the running kernel's release as the attribute `kernel` of <testsuites> in the XML
// report (--gtest_output=xml), for the kernel matrix (tests/vm/matrix).
class KernelProperty : public ::testing::Environment {
 public:
  void SetUp() override {
    utsname u{};
    if (::uname(&u) == 0) ::testing::Test::RecordProperty("kernel", u.release);
  }
};
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new KernelProperty);
  it::setup_process_environment();
  if (!it::skip_reason().empty())
    std::fprintf(stderr, "[integration] all tests will be skipped: %s\n", it::skip_reason().c_str());
  if (!it::fatal_reason().empty())
    std::fprintf(stderr, "[integration] all tests will fail: %s\n", it::fatal_reason().c_str());
  return RUN_ALL_TESTS();
}
