// validate_against_object(), encode_integer() and inspect_object(): a parsed program checked
// against its bytecode object, both hand-made ObjectInfo and the real objects built in bpf/.
#include "manifest/validate.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "load/files.h"
#include "manifest/object_info.h"

namespace bpfrec {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kManifest[] = "/etc/bpfman/programs.d/v.toml";
constexpr char kForeignObject[] = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_udp.o";

std::string bpf_obj(std::string_view name) { return fmt::format("{}/{}.bpf.o", BPF_OBJ_DIR, name); }

std::vector<std::string> strs(const std::vector<Diagnostic> &ds) {
  std::vector<std::string> out;
  for (auto &d : ds) out.push_back(d.str());
  return out;
}

std::string at(uint32_t line, uint32_t col, std::string_view msg) {
  return fmt::format("{}:{}:{}: error: {}", kManifest, line, col, msg);
}

// ---------------------------------------------------------------------------------------------
// encode_integer

struct EncodeCase {
  int64_t value;
  uint32_t size;
  bool is_signed;
  bool ok;
  std::vector<uint8_t> bytes;  // when ok
};

TEST(EncodeInteger, EdgeCases) {
  constexpr int64_t i64max = std::numeric_limits<int64_t>::max(), i64min = std::numeric_limits<int64_t>::min();
  const EncodeCase cases[] = {
      // u32
      {0, 4, false, true, {0, 0, 0, 0}},
      {4, 4, false, true, {4, 0, 0, 0}},
      {0x12345678, 4, false, true, {0x78, 0x56, 0x34, 0x12}},
      {0xffffffffLL, 4, false, true, {0xff, 0xff, 0xff, 0xff}},
      {0x100000000LL, 4, false, false, {}},
      {-1, 4, false, false, {}},
      // s32
      {-1, 4, true, true, {0xff, 0xff, 0xff, 0xff}},
      {INT32_MAX, 4, true, true, {0xff, 0xff, 0xff, 0x7f}},
      {INT32_MIN, 4, true, true, {0x00, 0x00, 0x00, 0x80}},
      {int64_t{INT32_MAX} + 1, 4, true, false, {}},
      {int64_t{INT32_MIN} - 1, 4, true, false, {}},
      // u8 / s8
      {255, 1, false, true, {0xff}},
      {256, 1, false, false, {}},
      {127, 1, true, true, {0x7f}},
      {128, 1, true, false, {}},
      {-128, 1, true, true, {0x80}},
      {-129, 1, true, false, {}},
      // u16 / s16
      {65535, 2, false, true, {0xff, 0xff}},
      {65536, 2, false, false, {}},
      {-32768, 2, true, true, {0x00, 0x80}},
      {32768, 2, true, false, {}},
      // odd sizes are still little-endian and range-checked
      {0xabcdef, 3, false, true, {0xef, 0xcd, 0xab}},
      {0x1000000, 3, false, false, {}},
      // u64 / s64
      {i64max, 8, false, true, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
      {-1, 8, false, false, {}},
      {i64min, 8, false, false, {}},
      {-1, 8, true, true, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
      {i64min, 8, true, true, {0, 0, 0, 0, 0, 0, 0, 0x80}},
      {0x0102030405060708, 8, true, true, {8, 7, 6, 5, 4, 3, 2, 1}},
      // sizes an integer cannot have
      {0, 0, false, false, {}},
      {0, 0, true, false, {}},
      {1, 9, false, false, {}},
      {1, 16, true, false, {}},
  };
  for (auto &c : cases) {
    SCOPED_TRACE(fmt::format("value {} size {} {}", c.value, c.size, c.is_signed ? "signed" : "unsigned"));
    std::vector<uint8_t> out;
    EXPECT_EQ(encode_integer(c.value, c.size, c.is_signed, out), c.ok);
    if (c.ok) {
      EXPECT_EQ(out, c.bytes);
    }
  }
}

TEST(EncodeInteger, ReplacesPreviousContentOfOut) {
  std::vector<uint8_t> out(10, 0xaa);
  ASSERT_TRUE(encode_integer(1, 2, false, out));
  EXPECT_EQ(out, (std::vector<uint8_t>{1, 0}));
}

// ---------------------------------------------------------------------------------------------
// validate_against_object with hand-made objects

TEST(RequiredProgType, PerManifestType) {
  EXPECT_EQ(required_prog_type(ProgramType::Xdp), uint32_t{BPF_PROG_TYPE_XDP});
  EXPECT_EQ(required_prog_type(ProgramType::Tc), uint32_t{BPF_PROG_TYPE_SCHED_CLS});
  EXPECT_EQ(required_prog_type(ProgramType::Tracepoint), uint32_t{BPF_PROG_TYPE_TRACEPOINT});
  EXPECT_EQ(required_prog_type(ProgramType::Uprobe), uint32_t{BPF_PROG_TYPE_KPROBE});
  EXPECT_EQ(required_prog_type(ProgramType::Uretprobe), uint32_t{BPF_PROG_TYPE_KPROBE});
}

TEST(ProgTypeName, LibbpfNamesAndFallback) {
  EXPECT_EQ(prog_type_name(BPF_PROG_TYPE_XDP), "xdp");
  EXPECT_EQ(prog_type_name(BPF_PROG_TYPE_SCHED_CLS), "sched_cls");
  EXPECT_EQ(prog_type_name(BPF_PROG_TYPE_KPROBE), "kprobe");
  EXPECT_EQ(prog_type_name(BPF_PROG_TYPE_TRACEPOINT), "tracepoint");
  EXPECT_EQ(prog_type_name(9999), "type 9999");
}

ObjectInfo fake_object() {
  ObjectInfo o;
  o.programs = {{"xdp_count", "xdp", BPF_PROG_TYPE_XDP},
                {"tc_count", "tc", BPF_PROG_TYPE_SCHED_CLS},
                {"tp_count", "tracepoint/sched/sched_switch", BPF_PROG_TYPE_TRACEPOINT},
                {"probe", "uprobe", BPF_PROG_TYPE_KPROBE}};
  o.globals = {{"sample_every", ".rodata", 4, true, false},
               {"threshold", ".data", 8, true, true},
               {"flag", ".data", 1, true, true},
               {"mac", ".rodata", 6, false, false}};
  o.maps = {"counts"};
  return o;
}

// A spec as parse_manifest() would produce it, with positions on distinct lines.
ProgramSpec spec(ProgramType type, std::string function) {
  ProgramSpec p;
  p.name = "p";
  p.type = type;
  p.bpf_function = std::move(function);
  p.bytecode_path = "/obj/fake.bpf.o";
  p.manifest = kManifest;
  p.pos = {1, 1};
  p.name_pos = {2, 8};
  p.type_pos = {3, 8};
  p.function_pos = {4, 16};
  p.bytecode_pos = {5, 21};
  return p;
}

void add_global(ProgramSpec &p, std::string name, std::variant<int64_t, std::vector<uint8_t>> v, uint32_t line) {
  p.global_data.push_back({std::move(name), std::move(v), {line, 5}});
}

TEST(ValidateAgainstObject, MatchingFunctionAndTypeIsClean) {
  const auto o = fake_object();
  const std::pair<ProgramType, const char *> ok[] = {
      {ProgramType::Xdp, "xdp_count"},         {ProgramType::Tc, "tc_count"},
      {ProgramType::Tracepoint, "tp_count"},   {ProgramType::Uprobe, "probe"},
      {ProgramType::Uretprobe, "probe"},
  };
  for (auto [type, fn] : ok) EXPECT_THAT(strs(validate_against_object(spec(type, fn), o)), IsEmpty()) << fn;
}

TEST(ValidateAgainstObject, MissingFunctionListsWhatTheObjectHas) {
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Xdp, "xdp_cnt"), fake_object())),
              ElementsAre(at(4, 16, "bpf_function 'xdp_cnt' is not in /obj/fake.bpf.o (it has: xdp_count, tc_count, "
                                    "tp_count, probe)")));
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Xdp, "f"), ObjectInfo{})),
              ElementsAre(at(4, 16, "bpf_function 'f' is not in /obj/fake.bpf.o (it has: no programs)")));
}

TEST(ValidateAgainstObject, SectionMustGiveTheManifestsType) {
  const auto o = fake_object();
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Tc, "xdp_count"), o)),
              ElementsAre(at(4, 16, "bpf_function 'xdp_count' is in section \"xdp\" (a xdp program), which does not "
                                    "match type = \"tc\" (needs a section tc, tc/*, classifier, classifier/*, tcx, tcx/*, or one that names no program type)")));
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Xdp, "tc_count"), o)),
              ElementsAre(at(4, 16, "bpf_function 'tc_count' is in section \"tc\" (a tc program), which does "
                                    "not match type = \"xdp\" (needs a section xdp, xdp/*, xdp.frags, xdp.frags/*, or one that names no program type)")));
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Uretprobe, "tp_count"), o)),
              ElementsAre(at(4, 16, "bpf_function 'tp_count' is in section \"tracepoint/sched/sched_switch\" (a "
                                    "tracepoint program), which does not match type = \"uretprobe\" (needs a section uprobe, uprobe/*, uretprobe, uretprobe/*, uprobe.s, uprobe.s/*, uretprobe.s, uretprobe.s/*, or one that names no program type)")));
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Tracepoint, "probe"), o)),
              ElementsAre(at(4, 16, "bpf_function 'probe' is in section \"uprobe\" (a uprobe or uretprobe program), which does not "
                                    "match type = \"tracepoint\" (needs a section tracepoint, tracepoint/*, tp, tp/*, or one that names no program type)")));
}

TEST(ValidateAgainstObject, GlobalDataThatFits) {
  auto p = spec(ProgramType::Xdp, "xdp_count");
  add_global(p, "sample_every", int64_t{4}, 6);
  add_global(p, "threshold", int64_t{-5}, 7);
  add_global(p, "flag", int64_t{-128}, 8);
  add_global(p, "mac", std::vector<uint8_t>{1, 2, 3, 4, 5, 6}, 9);
  add_global(p, "sample_every", std::vector<uint8_t>{4, 0, 0, 0}, 10);  // bytes of the right size also do
  EXPECT_THAT(strs(validate_against_object(p, fake_object())), IsEmpty());
}

TEST(ValidateAgainstObject, GlobalDataErrors) {
  auto p = spec(ProgramType::Xdp, "xdp_count");
  add_global(p, "nope", int64_t{1}, 6);
  add_global(p, "sample_every", int64_t{-1}, 7);
  add_global(p, "sample_every", int64_t{4294967296}, 8);
  add_global(p, "flag", int64_t{128}, 9);
  add_global(p, "mac", int64_t{1}, 10);
  add_global(p, "mac", std::vector<uint8_t>{1, 2, 3}, 11);
  add_global(p, "threshold", std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}, 12);
  EXPECT_THAT(strs(validate_against_object(p, fake_object())),
              ElementsAre(at(6, 5, "global_data 'nope' is not a .rodata or .data variable of /obj/fake.bpf.o"),
                          at(7, 5, "global_data 'sample_every' = -1 does not fit its type (unsigned 32-bit)"),
                          at(8, 5, "global_data 'sample_every' = 4294967296 does not fit its type (unsigned 32-bit)"),
                          at(9, 5, "global_data 'flag' = 128 does not fit its type (signed 8-bit)"),
                          at(10, 5, "global_data 'mac' is not an integer variable (6 bytes): give \"0x..\" bytes"),
                          at(11, 5, "global_data 'mac' has 3 bytes, the variable has 6"),
                          at(12, 5, "global_data 'threshold' has 9 bytes, the variable has 8")));
}

TEST(ValidateAgainstObject, FunctionAndGlobalErrorsAreAllReported) {
  auto p = spec(ProgramType::Tc, "xdp_count");
  add_global(p, "nope", int64_t{1}, 6);
  auto errs = validate_against_object(p, fake_object());
  ASSERT_THAT(errs, SizeIs(2));
  EXPECT_EQ(errs[0].pos.line, 4u);
  EXPECT_EQ(errs[1].pos.line, 6u);
  for (auto &e : errs) EXPECT_EQ(e.path, kManifest);
}

TEST(ValidateAgainstObject, MapsAreNotGlobals) {
  auto p = spec(ProgramType::Xdp, "xdp_count");
  add_global(p, "counts", int64_t{1}, 6);
  EXPECT_THAT(validate_against_object(p, fake_object()), SizeIs(1));
}

// ---------------------------------------------------------------------------------------------
// inspect_object on the objects built from bpf/*.bpf.c (never loaded: no root needed)

struct BuiltObject {
  const char *name, *function, *section;
  uint32_t prog_type;
  ProgramType type;
};

const BuiltObject kBuilt[] = {
    {"xdp_counter", "xdp_count", "xdp", BPF_PROG_TYPE_XDP, ProgramType::Xdp},
    {"tc_counter", "tc_count", "tc", BPF_PROG_TYPE_SCHED_CLS, ProgramType::Tc},
    {"tracepoint_counter", "tracepoint_count", "tracepoint", BPF_PROG_TYPE_TRACEPOINT, ProgramType::Tracepoint},
    {"uprobe_counter", "uprobe_count", "uprobe", BPF_PROG_TYPE_KPROBE, ProgramType::Uprobe},
};

TEST(InspectObject, BuiltCounters) {
  for (auto &b : kBuilt) {
    SCOPED_TRACE(b.name);
    auto info = inspect_object(bpf_obj(b.name));
    ASSERT_TRUE(info) << info.error().message;
    ASSERT_THAT(info->programs, SizeIs(1));
    EXPECT_EQ(info->programs[0].function, b.function);
    EXPECT_EQ(info->programs[0].section, b.section);
    EXPECT_EQ(info->programs[0].prog_type, b.prog_type);
    // counters.h: `const volatile __u32 sample_every` in .rodata; `__u64 seen` is .bss (not listed).
    ASSERT_THAT(info->globals, SizeIs(1));
    const auto &g = info->globals[0];
    EXPECT_EQ(g.name, "sample_every");
    EXPECT_EQ(g.section, ".rodata");
    EXPECT_EQ(g.size, 4u);
    EXPECT_TRUE(g.is_int);
    EXPECT_FALSE(g.is_signed);
    EXPECT_THAT(info->maps, Contains("counts"));
  }
}

TEST(InspectObject, MissingFileNamesThePathAndErrno) {
  const std::string path = "/nonexistent/dir/none.bpf.o";
  auto info = inspect_object(path);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, ENOENT);
  EXPECT_EQ(info.error().message, "open BPF object " + path + ": No such file or directory");
}

TEST(InspectObject, NotAnElfObject) {
  const std::string path = std::string(TEST_DATA_DIR) + "/objects/not-bpf.o";
  ASSERT_EQ(::access(path.c_str(), R_OK), 0) << path;
  auto info = inspect_object(path);
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().code, 0);
  EXPECT_THAT(info.error().message, testing::StartsWith("open BPF object " + path + ": "));
}

TEST(InspectObject, ForeignXdpToolsObject) {
  if (::access(kForeignObject, R_OK) != 0) GTEST_SKIP() << kForeignObject << " is absent (Debian package xdp-tools)";
  auto info = inspect_object(kForeignObject);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_THAT(info->programs, Contains(AllOf(Field(&ObjectProgram::function, "xdpfilt_dny_udp"),
                                             Field(&ObjectProgram::prog_type, uint32_t{BPF_PROG_TYPE_XDP}))));
  EXPECT_THAT(info->maps, Not(IsEmpty()));
}

// ---------------------------------------------------------------------------------------------
// validate_against_object on real objects, through parse_manifest()

// Parses a one-program manifest (type, function and bytecode path given; line 6 is `extra`) and
// validates it against the object it names. Returns the rendered diagnostics of both steps.
std::string default_attach_keys(std::string_view type) {
  if (type == "xdp") return "interface = \"eth0\"";
  if (type == "tc") return "interface = \"eth0\"\ndirection = \"ingress\"";
  if (type == "tracepoint") return "tracepoint = \"sched/sched_switch\"";
  if (type == "kprobe" || type == "kretprobe" || type == "fentry" || type == "fexit")
    return "function = \"__x64_sys_getpid\"";
  if (type == "cgroup_skb") return "cgroup = \"/sys/fs/cgroup\"\ndirection = \"ingress\"";
  if (type == "cgroup_sock") return "cgroup = \"/sys/fs/cgroup\"";
  if (type == "cgroup_sock_addr") return "cgroup = \"/sys/fs/cgroup\"\nattach_type = \"connect4\"";
  if (type == "sockops") return "cgroup = \"/sys/fs/cgroup\"";
  if (type == "lsm") return "hook = \"file_open\"";
  if (type == "raw_tracepoint") return "tracepoint = \"sys_enter\"";
  return "target = \"/usr/bin/bash\"\nfunction = \"readline\"";
}

// `attach_keys`: the lines of the attach point from line 8 on (default: what `type` needs).
std::vector<std::string> check_real(std::string_view type, std::string_view function, const std::string &object,
                                    std::string_view extra = "", std::string_view attach_keys = "") {
  auto text = fmt::format(
      "[[program]]\n"
      "name = \"p\"\n"
      "type = \"{}\"\n"
      "bpf_function = \"{}\"\n"
      "bytecode = {{ path = \"{}\" }}\n"
      "{}\n"
      "[[program.attach]]\n"
      "{}\n",
      type, function, object, extra,
      attach_keys.empty() ? default_attach_keys(type) : attach_keys);
  auto parsed = parse_manifest(text, kManifest);
  if (!parsed.errors.empty()) return strs(parsed.errors);
  auto info = inspect_object(object);
  if (!info) return {"inspect: " + info.error().message};
  return strs(validate_against_object(parsed.programs.at(0), *info));
}

TEST(ValidateRealObject, EachCounterMatchesItsType) {
  for (auto &b : kBuilt) EXPECT_THAT(check_real(to_string(b.type), b.function, bpf_obj(b.name)), IsEmpty()) << b.name;
  // libbpf gives SEC("uprobe") the kprobe type, which serves a uretprobe too.
  EXPECT_THAT(check_real("uretprobe", "uprobe_count", bpf_obj("uprobe_counter")), IsEmpty());
}

TEST(ValidateRealObject, MissingFunction) {
  const auto obj = bpf_obj("xdp_counter");
  EXPECT_THAT(check_real("xdp", "xdp_cnt", obj),
              ElementsAre(at(4, 16, "bpf_function 'xdp_cnt' is not in " + obj + " (it has: xdp_count)")));
}

TEST(ValidateRealObject, SectionTypeMismatch) {
  EXPECT_THAT(check_real("tc", "xdp_count", bpf_obj("xdp_counter")),
              ElementsAre(at(4, 16, "bpf_function 'xdp_count' is in section \"xdp\" (a xdp program), which does not "
                                    "match type = \"tc\" (needs a section tc, tc/*, classifier, classifier/*, tcx, tcx/*, or one that names no program type)")));
  EXPECT_THAT(check_real("tracepoint", "uprobe_count", bpf_obj("uprobe_counter")),
              ElementsAre(at(4, 16, "bpf_function 'uprobe_count' is in section \"uprobe\" (a uprobe or uretprobe program), which "
                                    "does not match type = \"tracepoint\" (needs a section tracepoint, tracepoint/*, tp, tp/*, or one that names no program type)")));
  EXPECT_THAT(check_real("xdp", "tc_count", bpf_obj("tc_counter")),
              ElementsAre(at(4, 16, "bpf_function 'tc_count' is in section \"tc\" (a tc program), which does "
                                    "not match type = \"xdp\" (needs a section xdp, xdp/*, xdp.frags, xdp.frags/*, or one that names no program type)")));
}

TEST(ValidateRealObject, SampleEveryIsAU32InRodata) {
  const auto obj = bpf_obj("xdp_counter");
  // line 6: `global_data = { sample_every = <v> }`, the value at column 32
  auto gd = [](std::string_view v) { return fmt::format("global_data = {{ sample_every = {} }}", v); };
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("4")), IsEmpty());
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("0")), IsEmpty());
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("4294967295")), IsEmpty());
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("\"0x04000000\"")), IsEmpty());
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("-1")),
              ElementsAre(at(6, 32, "global_data 'sample_every' = -1 does not fit its type (unsigned 32-bit)")));
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("4294967296")),
              ElementsAre(at(6, 32, "global_data 'sample_every' = 4294967296 does not fit its type (unsigned 32-bit)")));
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("\"0x0400\"")),
              ElementsAre(at(6, 32, "global_data 'sample_every' has 2 bytes, the variable has 4")));
  EXPECT_THAT(check_real("xdp", "xdp_count", obj, gd("\"0x0400000000\"")),
              ElementsAre(at(6, 32, "global_data 'sample_every' has 5 bytes, the variable has 4")));
}

TEST(ValidateRealObject, UnknownGlobals) {
  const auto obj = bpf_obj("tc_counter");
  // `seen` is in .bss, `counts` is a map, `LICENSE` is in its own section: none can be overridden.
  for (std::string_view name : {"nope", "seen", "counts", "LICENSE"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(check_real("tc", "tc_count", obj, fmt::format("global_data = {{ {} = 1 }}", name)),
                ElementsAre(at(6, 17 + static_cast<uint32_t>(name.size()) + 3,
                               fmt::format("global_data '{}' is not a .rodata or .data variable of {}", name, obj))));
  }
}

TEST(ValidateRealObject, ForeignXdpToolsObject) {
  if (::access(kForeignObject, R_OK) != 0) GTEST_SKIP() << kForeignObject << " is absent (Debian package xdp-tools)";
  EXPECT_THAT(check_real("xdp", "xdpfilt_dny_udp", kForeignObject), IsEmpty());
  auto errs = check_real("tc", "xdpfilt_dny_udp", kForeignObject);
  ASSERT_THAT(errs, SizeIs(1));
  EXPECT_THAT(errs[0], HasSubstr("(a xdp program), which does not match type = \"tc\" (needs a section tc, tc/*, classifier"));
  errs = check_real("xdp", "xdp_count", kForeignObject);
  ASSERT_THAT(errs, SizeIs(1));
  EXPECT_THAT(errs[0], HasSubstr("bpf_function 'xdp_count' is not in " + std::string(kForeignObject) + " (it has: "));
  EXPECT_THAT(errs[0], HasSubstr("xdpfilt_dny_udp"));
}

// ---------------------------------------------------------------------------------------------
// kprobe, kretprobe, fentry, fexit, cgroup_skb, cgroup_sock, raw_tracepoint: the section decides

struct SectionCase {
  ProgramType type;
  const char *section;
  uint32_t prog_type;
  bool ok;
};

TEST(ValidateAgainstObject, SectionsOfKernelAndCgroupTypes) {
  const SectionCase cases[] = {
      {ProgramType::Kprobe, "kprobe", BPF_PROG_TYPE_KPROBE, true},
      {ProgramType::Kprobe, "kprobe/do_sys_openat2", BPF_PROG_TYPE_KPROBE, true},
      {ProgramType::Kprobe, "kretprobe/do_sys_openat2", BPF_PROG_TYPE_KPROBE, true},  // bpfman: one family
      {ProgramType::Kprobe, "uprobe", BPF_PROG_TYPE_KPROBE, false},
      {ProgramType::Kprobe, "kprobe/", BPF_PROG_TYPE_KPROBE, true},
      {ProgramType::Kretprobe, "kretprobe", BPF_PROG_TYPE_KPROBE, true},
      {ProgramType::Kretprobe, "kretprobe/vfs_read", BPF_PROG_TYPE_KPROBE, true},
      {ProgramType::Kretprobe, "kprobe/vfs_read", BPF_PROG_TYPE_KPROBE, true},
      {ProgramType::Uprobe, "kprobe/vfs_read", BPF_PROG_TYPE_KPROBE, false},  // bpfman refuses it
      {ProgramType::Fentry, "fentry", BPF_PROG_TYPE_TRACING, true},
      {ProgramType::Fentry, "fentry/vfs_read", BPF_PROG_TYPE_TRACING, true},
      {ProgramType::Fentry, "fentry.s/vfs_read", BPF_PROG_TYPE_TRACING, true},
      {ProgramType::Fentry, "fexit/vfs_read", BPF_PROG_TYPE_TRACING, false},
      {ProgramType::Fentry, "fmod_ret/vfs_read", BPF_PROG_TYPE_TRACING, false},
      {ProgramType::Fexit, "fexit", BPF_PROG_TYPE_TRACING, true},
      {ProgramType::Fexit, "fexit/vfs_read", BPF_PROG_TYPE_TRACING, true},
      {ProgramType::Fexit, "fentry/vfs_read", BPF_PROG_TYPE_TRACING, false},
      {ProgramType::Fexit, "kprobe/vfs_read", BPF_PROG_TYPE_KPROBE, false},
      {ProgramType::CgroupSkb, "cgroup_skb/ingress", BPF_PROG_TYPE_CGROUP_SKB, true},
      {ProgramType::CgroupSkb, "cgroup/skb", BPF_PROG_TYPE_CGROUP_SKB, true},
      {ProgramType::CgroupSkb, "cgroup/sock", BPF_PROG_TYPE_CGROUP_SOCK, false},
      {ProgramType::CgroupSock, "cgroup/sock", BPF_PROG_TYPE_CGROUP_SOCK, true},
      {ProgramType::CgroupSock, "cgroup/sock_create", BPF_PROG_TYPE_CGROUP_SOCK, true},
      {ProgramType::CgroupSock, "cgroup_skb/ingress", BPF_PROG_TYPE_CGROUP_SKB, false},
      {ProgramType::RawTracepoint, "raw_tp", BPF_PROG_TYPE_RAW_TRACEPOINT, true},
      {ProgramType::RawTracepoint, "raw_tp/sys_enter", BPF_PROG_TYPE_RAW_TRACEPOINT, true},
      {ProgramType::RawTracepoint, "raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT, true},
      {ProgramType::RawTracepoint, "raw_tracepoint/sys_enter", BPF_PROG_TYPE_RAW_TRACEPOINT, true},
      {ProgramType::RawTracepoint, "raw_tracepoint.w/sys_enter", BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, false},
      {ProgramType::RawTracepoint, "tp_btf/sys_enter", BPF_PROG_TYPE_TRACING, false},
  };
  for (auto &c : cases) {
    SCOPED_TRACE(fmt::format("{} in section {}", to_string(c.type), c.section));
    ObjectInfo o;
    o.programs = {{"f", c.section, c.prog_type}};
    auto p = spec(c.type, "f");
    AttachSpec a = AttachSpec::of(c.type);
    a.pos = {6, 1};
    p.attach = {a};
    auto errs = strs(validate_against_object(p, o));
    if (c.ok) {
      EXPECT_THAT(errs, IsEmpty());
    } else {
      ASSERT_THAT(errs, SizeIs(1));
      EXPECT_THAT(errs[0], testing::StartsWith(at(4, 16, fmt::format("bpf_function 'f' is in section \"{}\"", c.section))));
    }
  }
}

TEST(ValidateAgainstObject, SectionNamesTheSectionsItNeeds) {
  ObjectInfo o;
  o.programs = {{"f", "kprobe/vfs_read", BPF_PROG_TYPE_KPROBE}};
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Uprobe, "f"), o)),
              ElementsAre(at(4, 16, "bpf_function 'f' is in section \"kprobe/vfs_read\" (a kprobe or kretprobe "
                                    "program), which does not match type = \"uprobe\" (needs a section uprobe, "
                                    "uprobe/*, uretprobe, uretprobe/*, uprobe.s, uprobe.s/*, uretprobe.s, "
                                    "uretprobe.s/*, or one that names no program type)")));
  o.programs = {{"f", "fexit/vfs_read", BPF_PROG_TYPE_TRACING}};
  EXPECT_THAT(strs(validate_against_object(spec(ProgramType::Fentry, "f"), o)),
              ElementsAre(at(4, 16, "bpf_function 'f' is in section \"fexit/vfs_read\" (a fexit program), which does "
                                    "not match type = \"fentry\" (needs a section fentry, fentry/*, fentry.s, "
                                    "fentry.s/*, or one that names no program type)")));
}

struct AttachConstraintCase {
  ProgramType type;
  const char *section;
  const char *value;  // direction (cgroup_skb) or attach_type (cgroup_sock)
  const char *error;  // empty: valid
};

TEST(ValidateAgainstObject, SectionFixesTheCgroupAttachType) {
  const AttachConstraintCase cases[] = {
      {ProgramType::CgroupSkb, "cgroup_skb/ingress", "ingress", ""},
      {ProgramType::CgroupSkb, "cgroup_skb/ingress", "egress",
       "bpf_function 'f' is in section \"cgroup_skb/ingress\", which attaches only as ingress, not direction = "
       "\"egress\""},
      {ProgramType::CgroupSkb, "cgroup_skb/egress", "egress", ""},
      {ProgramType::CgroupSkb, "cgroup_skb/egress", "ingress",
       "bpf_function 'f' is in section \"cgroup_skb/egress\", which attaches only as egress, not direction = "
       "\"ingress\""},
      {ProgramType::CgroupSkb, "cgroup/skb", "ingress", ""},
      {ProgramType::CgroupSkb, "cgroup/skb", "egress", ""},
      {ProgramType::CgroupSock, "cgroup/sock", "sock_create", ""},
      {ProgramType::CgroupSock, "cgroup/sock_create", "sock_create", ""},
      {ProgramType::CgroupSock, "cgroup/sock_release", "sock_release", ""},
      {ProgramType::CgroupSock, "cgroup/post_bind6", "post_bind6", ""},
      {ProgramType::CgroupSock, "cgroup/sock", "sock_release",
       "bpf_function 'f' is in section \"cgroup/sock\", which attaches only as sock_create, not attach_type = "
       "\"sock_release\""},
      {ProgramType::CgroupSock, "cgroup/post_bind4", "sock_create",
       "bpf_function 'f' is in section \"cgroup/post_bind4\", which attaches only as post_bind4, not attach_type = "
       "\"sock_create\""},
      {ProgramType::CgroupSockAddr, "cgroup/connect4", "connect4", ""},
      {ProgramType::CgroupSockAddr, "cgroup/recvmsg6", "recvmsg6", ""},
      {ProgramType::CgroupSockAddr, "cgroup/connect4", "bind4",
       "bpf_function 'f' is in section \"cgroup/connect4\", which attaches only as connect4, not attach_type = "
       "\"bind4\""},
      {ProgramType::CgroupSockAddr, "my_prog", "connect4",
       "bpf_function 'f' is in section \"my_prog\", which attaches only as none (the kernel needs a cgroup_sock_addr "
       "program's attach type at load: put it in a section cgroup/<attach_type>, e.g. cgroup/connect4), not "
       "attach_type = \"connect4\""},
  };
  for (auto &c : cases) {
    SCOPED_TRACE(fmt::format("{} as {}", c.section, c.value));
    ObjectInfo o;
    const uint32_t pt = c.type == ProgramType::CgroupSkb        ? BPF_PROG_TYPE_CGROUP_SKB
                        : c.type == ProgramType::CgroupSockAddr ? BPF_PROG_TYPE_CGROUP_SOCK_ADDR
                                                                : BPF_PROG_TYPE_CGROUP_SOCK;
    // A section of the user's own naming: libbpf gives it no type.
    o.programs = {{"f", c.section, std::string_view(c.section) == "my_prog" ? uint32_t{BPF_PROG_TYPE_UNSPEC} : pt}};
    auto p = spec(c.type, "f");
    AttachSpec a = AttachSpec::of(c.type);
    a.pos = {6, 1};
    auto &cg = std::get<CgroupAttach>(a.params);
    if (c.type == ProgramType::CgroupSkb)
      cg.direction = std::string_view(c.value) == "egress" ? TcDirection::Egress : TcDirection::Ingress;
    else
      cg.attach_type = c.value;
    p.attach = {a};
    if (*c.error) EXPECT_THAT(strs(validate_against_object(p, o)), ElementsAre(at(6, 1, c.error)));
    else EXPECT_THAT(strs(validate_against_object(p, o)), IsEmpty());
  }
}

struct RealCase {
  const char *object;
  const char *type;
  const char *function;
  const char *attach_keys;  // empty: default_attach_keys(type)
  const char *error;        // empty: valid; else a substring of the one error
};

TEST(ValidateRealObject, KernelAndCgroupCounters) {
  const RealCase cases[] = {
      {"kprobe_counter", "kprobe", "kprobe_count", "", ""},
      {"kprobe_counter", "kprobe", "kprobe_count", "function = \"__x64_sys_getpid\"\noffset = 0", ""},
      {"kprobe_counter", "kretprobe", "kretprobe_count", "", ""},
      {"kprobe_counter", "fentry", "fentry_count", "", ""},
      {"kprobe_counter", "fexit", "fexit_count", "", ""},
      {"kprobe_counter", "kretprobe", "kprobe_count", "", ""},  // bpfman: kprobe and kretprobe share sections
      {"kprobe_counter", "fentry", "fexit_count", "", "(needs a section fentry, fentry/*, fentry.s, fentry.s/*, or"},
      {"kprobe_counter", "fentry", "kprobe_count", "", "(a kprobe or kretprobe program), which does not match type = \"fentry\""},
      {"cgroup_counter", "cgroup_skb", "cgroup_skb_ingress_count", "", ""},
      {"cgroup_counter", "cgroup_skb", "cgroup_skb_egress_count",
       "cgroup = \"/sys/fs/cgroup\"\ndirection = \"egress\"", ""},
      {"cgroup_counter", "cgroup_skb", "cgroup_skb_egress_count", "",
       "which attaches only as egress, not direction = \"ingress\""},
      {"cgroup_counter", "cgroup_sock", "cgroup_sock_create_count", "", ""},
      {"cgroup_counter", "cgroup_sock", "cgroup_sock_create_count",
       "cgroup = \"/sys/fs/cgroup\"\nattach_type = \"post_bind4\"",
       "which attaches only as sock_create, not attach_type = \"post_bind4\""},
      {"cgroup_counter", "cgroup_sock", "cgroup_skb_ingress_count", "", "which does not match type = \"cgroup_sock\""},
      {"raw_tp_counter", "raw_tracepoint", "raw_tp_count", "", ""},
      {"raw_tp_counter", "tracepoint", "raw_tp_count", "", "which does not match type = \"tracepoint\""},
  };
  for (auto &c : cases) {
    SCOPED_TRACE(fmt::format("{} {} {} [{}]", c.object, c.type, c.function, c.attach_keys));
    auto errs = check_real(c.type, c.function, bpf_obj(c.object), "", c.attach_keys);
    if (*c.error) {
      ASSERT_THAT(errs, SizeIs(1));
      EXPECT_THAT(errs[0], HasSubstr(c.error));
    } else {
      EXPECT_THAT(errs, IsEmpty());
    }
  }
}

TEST(RequiredProgType, KernelAndCgroupTypes) {
  EXPECT_EQ(required_prog_type(ProgramType::Kprobe), uint32_t{BPF_PROG_TYPE_KPROBE});
  EXPECT_EQ(required_prog_type(ProgramType::Kretprobe), uint32_t{BPF_PROG_TYPE_KPROBE});
  EXPECT_EQ(required_prog_type(ProgramType::Fentry), uint32_t{BPF_PROG_TYPE_TRACING});
  EXPECT_EQ(required_prog_type(ProgramType::Fexit), uint32_t{BPF_PROG_TYPE_TRACING});
  EXPECT_EQ(required_prog_type(ProgramType::CgroupSkb), uint32_t{BPF_PROG_TYPE_CGROUP_SKB});
  EXPECT_EQ(required_prog_type(ProgramType::CgroupSock), uint32_t{BPF_PROG_TYPE_CGROUP_SOCK});
  EXPECT_EQ(required_prog_type(ProgramType::RawTracepoint), uint32_t{BPF_PROG_TYPE_RAW_TRACEPOINT});
}


// ---------------------------------------------------------------------------------------------
// The section rule (bpfman's: go-bpfman declaredTypeMatchesSection): every section below against
// every manifest type. libbpf's own inference comes from libbpf itself (libbpf_prog_type_by_name,
// no kernel), so the table also pins what libbpf 1.1.2 types and what it leaves to the manifest.

struct SectionRuleRow {
  const char *section;
  std::vector<ProgramType> accepted;  // every other type is a positioned error
  bool set_type;                      // libbpf infers no type: the loader sets it
};

uint32_t libbpf_type_of(const char *section) {
  bpf_prog_type t = BPF_PROG_TYPE_UNSPEC;
  bpf_attach_type a{};
  if (libbpf_prog_type_by_name(section, &t, &a) != 0) return BPF_PROG_TYPE_UNSPEC;
  return t;
}

TEST(SectionRule, EverySectionAgainstEveryType) {
  using T = ProgramType;
  const std::vector<T> kprobes{T::Kprobe, T::Kretprobe}, uprobes{T::Uprobe, T::Uretprobe};
  const SectionRuleRow rows[] = {
      {"xdp", {T::Xdp}, false},
      {"xdp/bpfman_xdp_counter", {T::Xdp}, true},  // bpfman's and libbpf 0.x's spelling
      {"xdp.frags", {T::Xdp}, false},
      {"xdp/devmap", {}, false},  // a devmap entry's program, not an interface's
      {"classifier", {T::Tc}, false},
      {"classifier/stats", {T::Tc}, true},  // bpfman's TC and TCX objects
      {"tc", {T::Tc}, false},
      {"tc/ingress", {T::Tc}, true},
      {"tcx/ingress", {T::Tc}, true},
      {"tracepoint/syscalls/sys_enter_kill", {T::Tracepoint}, false},
      {"tp/syscalls/sys_enter_kill", {T::Tracepoint}, false},
      {"kprobe", kprobes, false},
      {"kprobe/do_unlinkat", kprobes, false},
      {"kretprobe/do_unlinkat", kprobes, false},
      {"ksyscall/kill", kprobes, false},
      {"kprobe.multi/do_*", {}, false},  // another attach type (BPF_TRACE_KPROBE_MULTI)
      {"uprobe", uprobes, false},
      {"uprobe//usr/lib/libc.so.6:malloc", uprobes, false},
      {"uretprobe/malloc", uprobes, false},
      {"uprobe.s/malloc", uprobes, false},
      {"fentry/do_unlinkat", {T::Fentry}, false},
      {"fexit/do_unlinkat", {T::Fexit}, false},
      {"fmod_ret/do_unlinkat", {}, false},
      {"tp_btf/sched_switch", {}, false},
      {"raw_tp/sys_enter", {T::RawTracepoint}, false},
      {"raw_tracepoint/sys_enter", {T::RawTracepoint}, false},
      {"raw_tp.w/sys_enter", {}, false},
      {"cgroup_skb/ingress", {T::CgroupSkb}, false},
      {"cgroup/skb", {T::CgroupSkb}, false},
      {"cgroup/sock", {T::CgroupSock}, false},
      {"cgroup/post_bind4", {T::CgroupSock}, false},
      {"cgroup/connect4", {T::CgroupSockAddr}, false},
      {"cgroup/getsockname6", {T::CgroupSockAddr}, false},
      {"sockops", {T::Sockops}, false},
      {"socket", {}, false},
      {"lsm/file_open", {T::Lsm}, false},
      {"lsm", {T::Lsm}, false},
      {"lsm.s/file_open", {T::Lsm}, false},
      {"lsm_cgroup/file_open", {}, false},  // BPF_LSM_CGROUP: another attach type
      {"my_section", all_program_types(), true},  // names no type: the manifest decides
  };
  for (const auto &r : rows) {
    const uint32_t libbpf = libbpf_type_of(r.section);
    for (auto t : all_program_types()) {
      SCOPED_TRACE(fmt::format("section \"{}\" (libbpf type {}), type = \"{}\"", r.section, libbpf, to_string(t)));
      const bool want = std::find(r.accepted.begin(), r.accepted.end(), t) != r.accepted.end();
      const SectionFit fit = section_fit(r.section, libbpf, t);
      EXPECT_EQ(fit.error.empty(), want) << fit.error;
      if (want) {
        EXPECT_EQ(fit.set_type, r.set_type);
      }
      ObjectInfo o;
      o.programs = {{"f", r.section, libbpf}};
      auto errs = strs(validate_against_object(spec(t, "f"), o));
      if (want) {
        EXPECT_THAT(errs, IsEmpty());
      } else {
        ASSERT_THAT(errs, SizeIs(1));
        EXPECT_THAT(errs[0], testing::StartsWith(at(4, 16, fmt::format("bpf_function 'f' is in section \"{}\" (", r.section))));
        EXPECT_THAT(errs[0], HasSubstr(fmt::format("which does not match type = \"{}\"", to_string(t))));
      }
    }
  }
}

TEST(SectionRule, TypeSetOnlyWhereLibbpfInfersNone) {
  EXPECT_EQ(section_fit("fentry/x", BPF_PROG_TYPE_TRACING, ProgramType::Fentry).expected_attach_type, 0u);
  const SectionFit fentry = section_fit("my_probe", BPF_PROG_TYPE_UNSPEC, ProgramType::Fentry);
  EXPECT_TRUE(fentry.set_type);
  EXPECT_EQ(fentry.expected_attach_type, uint32_t{BPF_TRACE_FENTRY});
  EXPECT_EQ(section_fit("my_probe", BPF_PROG_TYPE_UNSPEC, ProgramType::Fexit).expected_attach_type,
            uint32_t{BPF_TRACE_FEXIT});
  EXPECT_EQ(section_fit("classifier/x", BPF_PROG_TYPE_UNSPEC, ProgramType::Tc).expected_attach_type, 0u);
  // A cgroup_sock program from a section that names no type attaches only as sock_create.
  EXPECT_EQ(section_attach_constraint(ProgramType::CgroupSock, "my_sock"), "sock_create");
  // A leading '?' (libbpf: not autoloaded unless asked) does not change the family.
  EXPECT_EQ(section_types("?classifier/x"), std::vector{ProgramType::Tc});
}

}  // namespace
}  // namespace bpfrec

namespace bpfrec {
namespace {

// bpf/legacy_sections.bpf.c: bpfman's spellings, through the real libbpf open.
TEST(ValidateRealObject, LegacySections) {
  const auto obj = bpf_obj("legacy_sections");
  const RealCase cases[] = {
      {"legacy_sections", "tc", "legacy_tc", "", ""},
      {"legacy_sections", "xdp", "legacy_xdp", "", ""},
      {"legacy_sections", "tracepoint", "legacy_tracepoint", "", ""},
      {"legacy_sections", "uprobe", "legacy_uprobe", "", ""},
      {"legacy_sections", "uretprobe", "legacy_uprobe", "", ""},
      {"legacy_sections", "kprobe", "legacy_kprobe", "", ""},
      {"legacy_sections", "kretprobe", "legacy_kprobe", "", ""},
      {"legacy_sections", "xdp", "legacy_tc", "", "is in section \"classifier/legacy_tc\" (a tc program), which does not match type = \"xdp\""},
      {"legacy_sections", "tc", "legacy_xdp", "", "(a xdp program), which does not match type = \"tc\""},
      {"legacy_sections", "uprobe", "legacy_kprobe", "", "(a kprobe or kretprobe program), which does not match type = \"uprobe\""},
      {"legacy_sections", "kprobe", "legacy_uprobe", "", "(a uprobe or uretprobe program), which does not match type = \"kprobe\""},
  };
  for (auto &c : cases) {
    SCOPED_TRACE(fmt::format("{} {}", c.type, c.function));
    auto errs = check_real(c.type, c.function, obj);
    if (*c.error) {
      ASSERT_THAT(errs, SizeIs(1));
      EXPECT_THAT(errs[0], HasSubstr(c.error));
      EXPECT_THAT(errs[0], testing::StartsWith(at(4, 16, "bpf_function")));
    } else {
      EXPECT_THAT(errs, IsEmpty());
    }
  }
  // libbpf 1.1.2 itself leaves the first two untyped: the manifest's type decides at load.
  auto info = inspect_object(obj);
  ASSERT_TRUE(info) << info.error().message;
  for (auto &p : info->programs)
    if (p.function == "legacy_tc" || p.function == "legacy_xdp") {
      EXPECT_EQ(p.prog_type, uint32_t{BPF_PROG_TYPE_UNSPEC}) << p.function;
    }
}

}  // namespace
}  // namespace bpfrec
