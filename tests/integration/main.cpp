// Custom main: the private mount namespace (bpffs, tracefs, /run/netns) has to be set up before
// gtest starts anything, and every daemon the tests start inherits it.
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <cstdio>
#include <string>
#include <vector>

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

// Repeats every failed assertion (test name, file:line, the message's first lines) on stderr
// when the program ends. `meson test --print-errorlogs` shows only the last 100 lines of a
// failed test's output, stdout's before stderr's; a daemon log excerpt printed after a failure
// used to push the failure itself out of that window (CI showed only log lines).
class FailureRecap : public ::testing::EmptyTestEventListener {
 public:
  // The test's name from OnTestStart: OnTestPartResult runs under gtest's UnitTest mutex, and
  // UnitTest::current_test_info() there takes it again (a deadlock: seen in CI).
  void OnTestStart(const ::testing::TestInfo& info) override {
    test_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestEnd(const ::testing::TestInfo&) override { test_ = "(outside a test)"; }
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::string msg = r.message();
    // The first lines say what failed; the rest is usually a diagnostic dump.
    std::size_t end = 0;
    for (int lines = 0; lines < 6 && end != std::string::npos; ++lines) {
      end = msg.find('\n', end);
      if (end != std::string::npos) ++end;
    }
    if (end != std::string::npos && end < msg.size()) msg = msg.substr(0, end) + "    [...]";
    failures_.push_back(test_ + "\n  " + (r.file_name() ? r.file_name() : "?") + ":" +
                        std::to_string(r.line_number()) + ": " + msg);
  }
  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    if (failures_.empty()) return;
    std::fflush(stdout);
    std::fprintf(stderr, "\n==== %zu failed assertion(s), repeated from above ====\n", failures_.size());
    for (const auto& f : failures_) std::fprintf(stderr, "%s\n", f.c_str());
  }

 private:
  std::string test_ = "(outside a test)";
  std::vector<std::string> failures_;
};
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new KernelProperty);
  ::testing::UnitTest::GetInstance()->listeners().Append(new FailureRecap);
  it::setup_process_environment();
  if (!it::skip_reason().empty())
    std::fprintf(stderr, "[integration] all tests will be skipped: %s\n", it::skip_reason().c_str());
  if (!it::fatal_reason().empty())
    std::fprintf(stderr, "[integration] all tests will fail: %s\n", it::fatal_reason().c_str());
  return RUN_ALL_TESTS();
}
