// Error kinds: what errno values mean to the callers that act on an error, an explicit kind
// winning over the errno, and a kind kept when an error gets more context.
#include <gtest/gtest.h>

#include "util/result.h"

namespace bpfrec {
namespace {

TEST(ErrorKind, ByErrno) {
  EXPECT_EQ(kind_of_errno(ENODEV), ErrorKind::Missing);
  EXPECT_EQ(kind_of_errno(-ENODEV), ErrorKind::Missing);  // libbpf's negative returns
  EXPECT_EQ(kind_of_errno(ENOENT), ErrorKind::NotFound);
  EXPECT_EQ(kind_of_errno(EPERM), ErrorKind::Permission);
  EXPECT_EQ(kind_of_errno(EACCES), ErrorKind::Permission);
  EXPECT_EQ(kind_of_errno(EOPNOTSUPP), ErrorKind::Unsupported);
  EXPECT_EQ(kind_of_errno(ENOTSUP), ErrorKind::Unsupported);
  EXPECT_EQ(kind_of_errno(EEXIST), ErrorKind::Busy);
  EXPECT_EQ(kind_of_errno(EBUSY), ErrorKind::Busy);
  EXPECT_EQ(kind_of_errno(ENOSPC), ErrorKind::Exhausted);
  EXPECT_EQ(kind_of_errno(EINVAL), ErrorKind::Invalid);
  EXPECT_EQ(kind_of_errno(E2BIG), ErrorKind::Invalid);
  EXPECT_EQ(kind_of_errno(EAGAIN), ErrorKind::Transient);
  EXPECT_EQ(kind_of_errno(ESTALE), ErrorKind::Changed);
  EXPECT_EQ(kind_of_errno(0), ErrorKind::Other);
  EXPECT_EQ(kind_of_errno(EXDEV), ErrorKind::Other);
}

TEST(ErrorKind, ExplicitKindWinsAndContextKeepsIt) {
  Error e = Error::from_errno(EINVAL, "probe netfilter");
  EXPECT_EQ(e.kind(), ErrorKind::Invalid);
  e.explicit_kind = ErrorKind::Unsupported;
  EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  const Error wrapped = e.with_message("netfilter programs are not available on this kernel: " + e.message);
  EXPECT_EQ(wrapped.kind(), ErrorKind::Unsupported);
  EXPECT_EQ(wrapped.code, EINVAL);
  EXPECT_NE(wrapped.message.find("not available"), std::string::npos);
  EXPECT_EQ(fail_errno(ENODEV, "attach to {}", "veth0").error().kind(), ErrorKind::Missing);
}

TEST(ErrorKind, WithKindSetsItAndKeepsCodeAndMessage) {
  const Error e = Error::from_errno(EPERM, "probe lsm").with_kind(ErrorKind::Unsupported);
  EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  EXPECT_EQ(e.code, EPERM);
  EXPECT_NE(e.message.find("probe lsm"), std::string::npos);
  EXPECT_EQ(Error::from_errno(EPERM, "open").kind(), ErrorKind::Permission);
}

TEST(ErrorKind, Names) {
  EXPECT_EQ(to_string(ErrorKind::Missing), "missing");
  EXPECT_EQ(to_string(ErrorKind::NotFound), "not_found");
  EXPECT_EQ(to_string(ErrorKind::Other), "other");
}

}  // namespace
}  // namespace bpfrec
