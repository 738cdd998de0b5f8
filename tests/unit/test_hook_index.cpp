// HookIndex (src/kernel/attachers/hook_index.h): our recorded attachments by hook and by
// mechanism, kept right through the record writes, removals and renames of one apply. Pure:
// records are built here, nothing is pinned.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernel/attachers/hook_index.h"
#include "types/type.h"

namespace bpfrec {
namespace {

AttachSpec tc_at(const std::string &interface, TcDirection d, const std::string &netns = "") {
  AttachSpec a = AttachSpec::of(ProgramType::Tc);
  auto &tc = std::get<TcAttach>(a.params);
  tc.interface = interface;
  tc.direction = d;
  tc.netns = netns;
  return a;
}

AttachRecord record(const std::string &key, Mechanism m, const AttachSpec &a) {
  AttachRecord r;
  r.key = key;
  r.mechanism = m;
  r.spec = a;
  return r;
}

ObservedProgram program(const std::string &name, const std::string &dir, const std::string &type = "tc") {
  ObservedProgram p;
  p.name = name;
  p.dir = dir;
  p.type = type;
  p.bytecode_path = "/o/" + name + ".bpf.o";
  p.bytecode_sha256 = "sha-" + name;
  p.bpf_function = name + "_fn";
  return p;
}

Hook tc_hook(const AttachSpec &a) { return hook_of(find_descriptor("tc")->type, a); }

// "program:key" of each entry, in the order given.
std::vector<std::string> names(const std::vector<const HookEntry *> &es) {
  std::vector<std::string> out;
  for (const auto *e : es) out.push_back(e->program + ":" + e->key);
  return out;
}

using V = std::vector<std::string>;

TEST(HookIndex, EntriesAreFoundByTheirHookOnly) {
  const AttachSpec in0 = tc_at("veth0", TcDirection::Ingress), eg0 = tc_at("veth0", TcDirection::Egress),
                   in0_blue = tc_at("veth0", TcDirection::Ingress, "/run/netns/blue");
  ObservedProgram a = program("a", "/p/a"), b = program("b", "/p/b");
  a.attachments["k1"] = record("k1", Mechanism::Tcx, in0);
  a.attachments["k2"] = record("k2", Mechanism::Tcx, eg0);
  b.attachments["k3"] = record("k3", Mechanism::Tcx, in0);
  b.attachments["k4"] = record("k4", Mechanism::Tcx, in0_blue);
  HookIndex index;
  index.put(a);
  index.put(b);
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(names(index.on(tc_hook(in0))), (V{"a:k1", "b:k3"}));
  EXPECT_EQ(names(index.on(tc_hook(eg0))), (V{"a:k2"}));
  EXPECT_EQ(names(index.on(tc_hook(in0_blue))), (V{"b:k4"}));
  EXPECT_TRUE(index.on(tc_hook(tc_at("veth1", TcDirection::Ingress))).empty());
  // What the TC dispatcher loads the program again from comes with the entry.
  const HookEntry *e = index.on(tc_hook(eg0)).at(0);
  EXPECT_EQ(e->dir, "/p/a");
  EXPECT_EQ(e->bytecode_path, "/o/a.bpf.o");
  EXPECT_EQ(e->bytecode_sha256, "sha-a");
  EXPECT_EQ(e->bpf_function, "a_fn");
  EXPECT_EQ(e->record.mechanism, Mechanism::Tcx);
}

TEST(HookIndex, ByMechanismAcrossHooks) {
  ObservedProgram a = program("a", "/p/a"), b = program("b", "/p/b");
  a.attachments["k1"] = record("k1", Mechanism::Tc, tc_at("veth0", TcDirection::Ingress));
  a.attachments["k2"] = record("k2", Mechanism::TcDispatcher, tc_at("veth0", TcDirection::Ingress));
  b.attachments["k3"] = record("k3", Mechanism::Tc, tc_at("veth9", TcDirection::Egress));
  HookIndex index;
  index.put(a);
  index.put(b);
  EXPECT_EQ(names(index.with(Mechanism::Tc)), (V{"a:k1", "b:k3"}));
  EXPECT_EQ(names(index.with(Mechanism::TcDispatcher)), (V{"a:k2"}));
  EXPECT_TRUE(index.with(Mechanism::Tcx).empty());
}

TEST(HookIndex, PutReplacesWhatTheDirectoryHeld) {
  const AttachSpec in0 = tc_at("veth0", TcDirection::Ingress);
  ObservedProgram a = program("a", "/p/a");
  a.attachments["k1"] = record("k1", Mechanism::Tc, in0);
  a.attachments["k2"] = record("k2", Mechanism::Tc, tc_at("veth1", TcDirection::Ingress));
  HookIndex index;
  index.put(a);
  a.attachments.erase("k1");  // detached, record written again
  index.put(a);
  EXPECT_TRUE(index.on(tc_hook(in0)).empty());
  EXPECT_EQ(names(index.with(Mechanism::Tc)), (V{"a:k2"}));
  // A changed record (same key, another mechanism) moves the entry.
  a.attachments["k2"].mechanism = Mechanism::Tcx;
  index.put(a);
  EXPECT_TRUE(index.with(Mechanism::Tc).empty());
  EXPECT_EQ(names(index.with(Mechanism::Tcx)), (V{"a:k2"}));
  EXPECT_EQ(index.size(), 1u);
}

TEST(HookIndex, EraseForgetsOneDirectoryOnly) {
  const AttachSpec in0 = tc_at("veth0", TcDirection::Ingress);
  ObservedProgram a = program("a", "/p/a"), ab = program("ab", "/p/ab"), staged = program("a", "/p/_staging-a");
  a.attachments["k"] = record("k", Mechanism::Tcx, in0);
  ab.attachments["k"] = record("k", Mechanism::Tcx, in0);
  staged.attachments["k"] = record("k", Mechanism::Tcx, in0);
  HookIndex index;
  index.put(a);
  index.put(ab);
  index.put(staged);
  index.erase("/p/a");
  ASSERT_EQ(index.on(tc_hook(in0)).size(), 2u);
  for (const auto *e : index.on(tc_hook(in0))) EXPECT_NE(e->dir, "/p/a");
  index.erase("/p/none");
  EXPECT_EQ(index.size(), 2u);
}

TEST(HookIndex, RenameMovesTheEntriesAndReplacesTheTarget) {
  // commit(): the staging directory becomes the live one; the previous program's entries go.
  const AttachSpec in0 = tc_at("veth0", TcDirection::Ingress), in1 = tc_at("veth1", TcDirection::Ingress);
  ObservedProgram live = program("a", "/p/a"), staged = program("a", "/p/_staging-a");
  live.attachments["old"] = record("old", Mechanism::Tc, in1);
  staged.attachments["k"] = record("k", Mechanism::Tc, in0);
  HookIndex index;
  index.put(live);
  index.put(staged);
  index.rename("/p/_staging-a", "/p/a");
  EXPECT_TRUE(index.on(tc_hook(in1)).empty());
  ASSERT_EQ(index.on(tc_hook(in0)).size(), 1u);
  EXPECT_EQ(index.on(tc_hook(in0))[0]->dir, "/p/a");
  EXPECT_EQ(names(index.with(Mechanism::Tc)), (V{"a:k"}));
  // Erasing the new directory finds the moved entries.
  index.erase("/p/a");
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.with(Mechanism::Tc).empty());
}

TEST(HookIndex, AnUnknownTypeIsOnNoHookButCountsForItsMechanism) {
  // A cls_bpf record of a type this version does not know still takes its handle.
  ObservedProgram p = program("x", "/p/x", "no-such-type");
  p.attachments["k"] = record("k", Mechanism::Tc, tc_at("veth0", TcDirection::Ingress));
  HookIndex index;
  index.put(p);
  EXPECT_FALSE(hook_of_record("no-such-type", p.attachments["k"]).has_value());
  EXPECT_TRUE(index.on(tc_hook(tc_at("veth0", TcDirection::Ingress))).empty());
  EXPECT_EQ(names(index.with(Mechanism::Tc)), (V{"x:k"}));
}

TEST(HookIndex, ClearForgetsEverything) {
  ObservedProgram a = program("a", "/p/a");
  a.attachments["k"] = record("k", Mechanism::Tcx, tc_at("veth0", TcDirection::Ingress));
  HookIndex index;
  index.put(a);
  index.clear();
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.with(Mechanism::Tcx).empty());
  EXPECT_TRUE(index.on(tc_hook(tc_at("veth0", TcDirection::Ingress))).empty());
}

TEST(HookIndex, TheHookOfARecordFollowsItsType) {
  AttachSpec a = AttachSpec::of(ProgramType::Tracepoint);
  std::get<TracepointAttach>(a.params).tracepoint = "syscalls/sys_enter_openat";
  AttachRecord r = record("k", Mechanism::PerfLink, a);
  ASSERT_TRUE(hook_of_record("tracepoint", r).has_value());
  EXPECT_EQ(*hook_of_record("tracepoint", r), hook_of(find_descriptor("tracepoint")->type, a));
  EXPECT_NE(*hook_of_record("tracepoint", r), *hook_of_record("raw_tracepoint", r));
}

}  // namespace
}  // namespace bpfrec
