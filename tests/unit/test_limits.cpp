// The bounds on a manifest (manifest/limits.h): deep TOML never reaches toml++ (issue 11 bug 1),
// and sizes and counts stay below what a status reply can carry (bug 3).
#include "manifest/limits.h"
#include "manifest/manifest.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace bpfrec {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kPath[] = "/etc/bpfman/programs.d/deep.toml";

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string dotted(size_t parts) {
  std::string k = "a";
  for (size_t i = 1; i < parts; ++i) k += ".a";
  return k;
}

// A complete, valid program; `extra` goes into the [[program]] table.
std::string program(std::string_view name, std::string_view extra = "") {
  return fmt::format(
      "[[program]]\nname = \"{}\"\ntype = \"tracepoint\"\nbpf_function = \"f\"\n"
      "bytecode = {{ path = \"/o.bpf.o\" }}\n{}"
      "[[program.attach]]\ntracepoint = \"syscalls/sys_enter_openat\"\n",
      name, extra);
}

// The reproduction of bug 1: 40,000 parts overflowed the stack inside toml++ (SIGSEGV).
TEST(ManifestLimits, DottedKeyOf40000PartsIsAPositionedError) {
  auto m = parse_manifest(dotted(40000) + " = 1\n", kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_EQ(m.errors[0].pos.line, 1u);
  EXPECT_EQ(m.errors[0].pos.column, 64u);  // the dot that opens level 33
  EXPECT_THAT(m.errors[0].message, HasSubstr("deeper than 32 levels"));
  EXPECT_THAT(m.programs, IsEmpty());
}

TEST(ManifestLimits, DeepHeadersAreAnError) {
  auto m = parse_manifest(program("p") + "[" + dotted(40000) + "]\n", kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_EQ(m.errors[0].pos.line, 8u);
  m = parse_manifest("[[" + dotted(20000) + "]]\n", kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_EQ(m.errors[0].pos.line, 1u);
}

TEST(ManifestLimits, DeepArraysAndInlineTablesAreAnError) {
  for (auto text : {"a = " + repeat("[", 40000) + "1" + repeat("]", 40000) + "\n",
                    "a = " + repeat("{a=", 40000) + "1" + repeat("}", 40000) + "\n",
                    // dotted keys inside inline tables inside arrays add up
                    "a = [" + repeat("{" + dotted(10) + " = [", 2000) + "\n",
                    // unterminated: toml++ would build the levels before it fails
                    "x = " + repeat("[{a.a.a=", 5000)}) {
    auto m = parse_manifest(text, kPath);
    ASSERT_THAT(m.errors, SizeIs(1)) << text.substr(0, 40);
    EXPECT_THAT(m.errors[0].message, HasSubstr("deeper than"));
  }
}

TEST(ManifestLimits, DepthIsCountedPerNode) {
  // 32 levels pass the scan (toml++ then parses them), 33 do not.
  EXPECT_FALSE(scan_toml_shape(dotted(32) + " = 1\n"));
  EXPECT_TRUE(scan_toml_shape("\xEF\xBB\xBF[" + dotted(33) + "]\n"));  // after a byte order mark too
  EXPECT_TRUE(scan_toml_shape(dotted(33) + " = 1\n"));
  EXPECT_FALSE(scan_toml_shape("[" + dotted(30) + "]\nb.c = 1\n"));
  EXPECT_TRUE(scan_toml_shape("[" + dotted(30) + "]\nb.c.d = 1\n"));
  EXPECT_FALSE(scan_toml_shape("[[" + dotted(15) + "]]\nb = 1\n"));
  EXPECT_TRUE(scan_toml_shape("[[" + dotted(17) + "]]\n"));
  // Siblings do not add up: many short keys and many arrays on their own lines are fine.
  EXPECT_FALSE(scan_toml_shape(repeat("a.b.c.d = [[1], [2, [3]]]\n", 5000)));
  EXPECT_FALSE(scan_toml_shape("a = [\n" + repeat("  [1.5, 2.5, {x.y = 1}],\n", 5000) + "]\n"));
}

TEST(ManifestLimits, StringsAndCommentsDoNotCount) {
  const std::string noise = repeat("[{.", 100);
  for (auto text : {"a = \"" + noise + "\"\n", "a = '" + noise + "'\n", "a = \"\"\"\n" + noise + "\n\"\"\"\n",
                    "a = '''" + noise + "\n'''\n", "# " + noise + "\na = 1\n", "\"" + noise + "\" = 1\n",
                    "['" + noise + "']\nb = 1\n", "a = \"\\\"" + noise + "\"\n", "a = \"\"\"\\\"\"\"" + noise + "\"\"\"\n",
                    "a = [ # " + noise + "\n 1 ]\n"}) {
    EXPECT_FALSE(scan_toml_shape(text)) << text;
    EXPECT_THAT(parse_manifest(text, kPath).errors, testing::Not(testing::Contains(testing::Field(
                                                        &Diagnostic::message, HasSubstr("deeper than")))))
        << text;
  }
}

// Found by fuzz/fuzz_manifest.cpp: toml++ 3.3.0 asserts in parse_key() (abort; undefined
// behaviour under NDEBUG) on a header without a key. The pre-scan reports it instead.
TEST(ManifestLimits, TableHeaderWithoutAKey) {
  for (auto [text, col] : {std::pair{"[[# comment\n", 3u}, {"[ =]\n", 3u}, {"x = 1\n[\t.a]\n", 3u}, {"[[ ]]\n", 4u}, {"\xEF\xBB\xBF[\b\n", 2u}}) {
    auto e = scan_toml_shape(text);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->message.substr(0, 33), "a table header needs a key after ") << text;
    EXPECT_EQ(e->pos.column, col) << text;
    EXPECT_THAT(parse_manifest(text, kPath).errors, SizeIs(1)) << text;
  }
  for (auto text : {"[a]\n", "[ \"a\" ]\n", "[[ 'a'.b ]]\n", "[_]\n", "[-]\n", "[0]\n"}) EXPECT_FALSE(scan_toml_shape(text)) << text;
}

TEST(ManifestLimits, TheExamplesPass) {
  size_t seen = 0;
  for (auto &e : std::filesystem::recursive_directory_iterator(SOURCE_DIR "/examples")) {
    if (e.path().extension() != ".toml") continue;
    std::ifstream in(e.path());
    std::stringstream buf;
    buf << in.rdbuf();
    EXPECT_FALSE(scan_toml_shape(buf.str())) << e.path();
    ++seen;
  }
  EXPECT_GT(seen, 0u);
}

TEST(ManifestLimits, ManifestOverOneMiBIsAnError) {
  std::string text = program("p");
  text += "# " + std::string(kMaxManifestBytes, 'x') + "\n";
  auto m = parse_manifest(text, kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_THAT(m.errors[0].str(), HasSubstr(fmt::format("{}:1:1: error: the manifest is {} bytes, more than the limit "
                                                       "of 1048576 bytes",
                                                       kPath, text.size())));
}

TEST(ManifestLimits, ProgramCount) {
  std::string text;
  for (size_t i = 0; i < kMaxProgramsPerManifest; ++i) text += program(fmt::format("p{}", i));
  EXPECT_THAT(parse_manifest(text, kPath).errors, IsEmpty());
  const uint32_t line = static_cast<uint32_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  text += program("one-more");
  auto m = parse_manifest(text, kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_EQ(m.errors[0].pos.line, line);
  EXPECT_THAT(m.errors[0].message, HasSubstr("more than 1024 [[program]] tables"));
}

TEST(ManifestLimits, AttachCount) {
  std::string text = "[[program]]\nname = \"p\"\ntype = \"xdp\"\nbpf_function = \"f\"\nbytecode = { path = \"/o\" }\n";
  for (size_t i = 0; i <= kMaxAttachPerProgram; ++i)
    text += fmt::format("[[program.attach]]\ninterface = \"veth{}\"\n", i);
  auto m = parse_manifest(text, kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_EQ(m.errors[0].pos.line, 6u + 2 * kMaxAttachPerProgram);
  EXPECT_THAT(m.errors[0].message, HasSubstr("more than 256 [[program.attach]] tables"));
}

TEST(ManifestLimits, Metadata) {
  // The reproduction of bug 3 wrote a 33 MiB value; the file limit stops that, and the value
  // limit stops a 1 MiB one that many manifests would add up.
  auto m = parse_manifest(program("p", fmt::format("metadata = {{ a = \"{}\" }}\n", std::string(4097, 'v'))), kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_EQ(m.errors[0].pos.line, 6u);
  EXPECT_THAT(m.errors[0].message, HasSubstr("metadata.a is 4097 bytes, more than the limit of 4096"));
  EXPECT_THAT(parse_manifest(program("p", fmt::format("metadata = {{ a = \"{}\" }}\n", std::string(4096, 'v'))), kPath)
                  .errors,
              IsEmpty());
  m = parse_manifest(program("p", fmt::format("metadata = {{ {} = \"v\" }}\n", std::string(257, 'k'))), kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_THAT(m.errors[0].message, HasSubstr("metadata key is 257 bytes"));
  std::string many = "metadata = { ";
  for (size_t i = 0; i <= kMaxMetadataEntries; ++i) many += fmt::format("{}k{} = \"v\"", i ? ", " : "", i);
  m = parse_manifest(program("p", many + " }\n"), kPath);
  ASSERT_THAT(m.errors, SizeIs(1));
  EXPECT_THAT(m.errors[0].message, HasSubstr("'metadata' has 65 entries, more than the limit of 64"));
}

TEST(ManifestLimits, DiagnosticsAreCapped) {
  auto m = parse_manifest(repeat("[[program]]\n", 2000), kPath);
  ASSERT_THAT(m.errors, SizeIs(kMaxDiagnosticsPerManifest + 1));
  EXPECT_THAT(m.errors.back().message, HasSubstr("more errors not shown"));
  auto again = m.errors;
  cap_diagnostics(again, kPath);
  EXPECT_EQ(again.size(), m.errors.size());
}

}  // namespace
}  // namespace bpfrec

namespace bpfrec {
namespace {

// Found by fuzz/fuzz_manifest.cpp (UBSan): toml++ 3.3.0 reaches __builtin_unreachable() when it
// asks whether most code points from U+00A1 to U+0499 are whitespace. The pre-scan refuses
// non-ASCII wherever toml++ would ask; strings and comments keep it.
TEST(ManifestLimits, NonAsciiWhereTomlppCannotReadIt) {
  for (auto text : {"a = 1 \u00e9\n", "\u00e9 = 1\n", "\"caf\u00e9\" = 1\n", "a = { 'caf\u00e9' = 1 }\n",
                    "[\"\u00e9\"]\n", "a = \"\"\"x\\\n   \u00e9\"\"\"\n", "a = \"\"\"\\\u00e9\"\"\"\n", "a.x\u0480.z = 1\n",
                    // a quote glued to a bare value is part of that value for toml++, not a string
                    "a = 0\"\u00e9\"\n", "b = { t = 0\"/usr\ufdbf\" }\n"}) {
    auto e = scan_toml_shape(text);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->message.substr(0, 19), "non-ASCII character") << text;
  }
  for (auto text : {"a = \"caf\u00e9\"\n", "a = 'caf\u00e9'\n", "# caf\u00e9\na = 1\n", "a = \"\"\"\ncaf\u00e9\n\"\"\"\n",
                    "a = '''caf\u00e9'''\n", "a = [\"\u00e9\", { b = '\u00e9' }]\n"})
    EXPECT_FALSE(scan_toml_shape(text)) << text;
}

}  // namespace
}  // namespace bpfrec
