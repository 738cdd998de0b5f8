// Network namespaces and veth pairs for the tests to attach to (ip netns, ip link).
#pragma once

#include <string>

#include "harness/process.h"

namespace it {

/// veth-a's address in a NetnsPair (netns a).
inline constexpr const char* kAddrA = "198.18.0.1";
/// veth-b's address in a NetnsPair (netns b).
inline constexpr const char* kAddrB = "198.18.0.2";

/// Two network namespaces joined by a veth pair: veth-a (198.18.0.1/30) in `a`, veth-b
/// (198.18.0.2/30) in `b`.
class NetnsPair {
 public:
  NetnsPair();
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::string path_a() const { return "/run/netns/" + a; }
  std::string path_b() const { return "/run/netns/" + b; }
  /// Pings 198.18.0.1 from netns b (packets enter veth-a), `count` echo requests.
  CmdResult ping_a_from_b(int count) const;

  std::string a;
  std::string b;
  std::string if_a = "veth-a";
  std::string if_b = "veth-b";

 private:
  std::string error_;
};

/// A veth pair: if1 in netns ns1 and if2 in netns ns2, both up, optional /30 addresses ("" for
/// none). Returns "" on success, else the failing command and its output.
std::string add_veth(const std::string& ns1, const std::string& if1, const std::string& ns2,
                     const std::string& if2, const std::string& addr1 = "",
                     const std::string& addr2 = "");

}  // namespace it
