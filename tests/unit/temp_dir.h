// Test helpers shared by the unit tests that touch the file system.
#pragma once

#include <stdlib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bpfrec::testing_util {

/// A directory under /tmp, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/bpfrec-unit-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::string &path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  std::string path_;
};

/// Writes `content` to `path`, creating parent directories.
inline void write_file(const std::string &path, std::string_view content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

/// /etc-, /run- and /usr/lib-like manifest directories under a TempDir, highest precedence first.
class ProgramsDirsTest : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string etc = tmp / "etc", run = tmp / "run", lib = tmp / "lib";
  std::vector<std::string> dirs{etc, run, lib};

  void SetUp() override {
    for (auto &d : dirs) std::filesystem::create_directories(d);
  }
};

}  // namespace bpfrec::testing_util
