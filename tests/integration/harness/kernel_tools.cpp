#include "harness/kernel_tools.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "harness/files.h"
#include "harness/internal.h"
#include "harness/process.h"

namespace fs = std::filesystem;

namespace it {

using detail::errno_text;
using detail::kBpfTcxEgress;
using detail::kBpfTcxIngress;
using detail::parse_json;

namespace {

std::uint64_t parse_number_or_hex(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  if (v.is_array()) {  // little-endian hex bytes ["0x06","0x00",...]
    std::uint64_t out = 0;
    for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
      const auto byte = std::stoul(v[i].get<std::string>(), nullptr, 16);
      out |= static_cast<std::uint64_t>(byte & 0xff) << (8 * i);
    }
    return out;
  }
  if (v.is_string()) return std::stoull(v.get<std::string>(), nullptr, 0);
  throw std::runtime_error("unexpected map value " + v.dump());
}

}  // namespace

std::optional<std::uint32_t> pinned_prog_id(const std::string& path) {
  if (!path_exists(path)) return std::nullopt;
  const auto r = run({"bpftool", "-j", "prog", "show", "pinned", path});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_object() || !j->contains("id")) return std::nullopt;
  return (*j)["id"].get<std::uint32_t>();
}

std::optional<json> pinned_map_info(const std::string& path) {
  const auto r = run({"bpftool", "-j", "map", "show", "pinned", path});
  if (r.rc != 0) return std::nullopt;
  return parse_json(r.out);
}

std::optional<json> pinned_link_info(const std::string& path) {
  const auto r = run({"bpftool", "-j", "link", "show", "pinned", path});
  if (r.rc != 0) return std::nullopt;
  return parse_json(r.out);
}

std::optional<json> prog_info(std::uint32_t id) {
  const auto r = run({"bpftool", "-j", "prog", "show", "id", std::to_string(id)});
  if (r.rc != 0) return std::nullopt;
  return parse_json(r.out);
}

bool prog_listed(std::uint32_t id) {
  const auto r = run({"bpftool", "-j", "prog", "show"});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) throw std::runtime_error("bpftool prog show: " + r.describe());
  for (const auto& p : *j)
    if (p.value("id", 0u) == id) return true;
  return false;
}

std::string prog_holders(std::uint32_t id) {
  std::string out;
  std::error_code ec;
  const std::string want = "prog_id:\t" + std::to_string(id) + "\n";
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    int n = 0;
    std::error_code ec2;
    for (const auto& fd : fs::directory_iterator(proc.path() / "fdinfo", ec2)) {
      if (read_file(fd.path()).find(want) != std::string::npos) ++n;
    }
    if (n > 0) {
      std::string comm = read_file(proc.path() / "comm");
      if (!comm.empty() && comm.back() == '\n') comm.pop_back();
      out += (out.empty() ? "" : ", ") + pid + "(" + comm + ") x" + std::to_string(n);
    }
  }
  return "fds of prog " + std::to_string(id) + " held by: " + (out.empty() ? "nobody" : out);
}

std::optional<std::uint64_t> sum_first_u64(const std::string& map_pin) {
  const auto r = run({"bpftool", "-j", "map", "dump", "pinned", map_pin});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) return std::nullopt;
  std::uint64_t sum = 0;
  for (const auto& e : *j) {
    if (e.contains("values")) {  // per-CPU: {"key":[...],"values":[{"cpu":0,"value":[...]}]}
      for (const auto& v : e["values"])
        if (v.contains("value") && v["value"].is_array()) sum += parse_number_or_hex(v["value"]);
    } else if (e.contains("value") && e["value"].is_array()) {
      sum += parse_number_or_hex(e["value"]);
    }
  }
  return sum;
}

json all_links() {
  const auto r = run({"bpftool", "-j", "link", "show"});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) throw std::runtime_error("bpftool link show: " + r.describe());
  return *j;
}

std::vector<json> links_of_prog(std::uint32_t prog_id) {
  std::vector<json> out;
  for (const auto& l : all_links())
    if (l.value("prog_id", 0u) == prog_id) out.push_back(l);
  return out;
}

json net_show(const std::string& ns, const std::string& ifname) {
  const auto r = run_in_netns(ns, {"bpftool", "-j", "net", "show", "dev", ifname});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array() || j->empty())
    throw std::runtime_error("bpftool net show: " + r.describe());
  return (*j)[0];
}

std::vector<std::uint32_t> xdp_prog_ids(const std::string& ns, const std::string& ifname) {
  std::vector<std::uint32_t> out;
  const json n = net_show(ns, ifname);
  for (const auto& x : n.value("xdp", json::array()))
    if (x.contains("id")) out.push_back(x["id"].get<std::uint32_t>());
  return out;
}

std::string xdp_mode(const std::string& ns, const std::string& ifname) {
  const json n = net_show(ns, ifname);
  for (const auto& x : n.value("xdp", json::array())) return x.value("mode", "");
  return "";
}

std::optional<std::vector<std::uint32_t>> tcx_prog_ids(const std::string& ns,
                                                       const std::string& ifname, bool ingress) {
  // setns() moves only the calling thread, so do the query on a short-lived thread.
  std::optional<std::vector<std::uint32_t>> result;
  std::string error;
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      error = errno_text("setns " + ns);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    const unsigned ifindex = ::if_nametoindex(ifname.c_str());
    if (ifindex == 0) {
      error = errno_text("if_nametoindex " + ifname);
      return;
    }
    std::uint32_t ids[64] = {};
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.query.target_fd = ifindex;  // target_ifindex in newer headers
    attr.query.attach_type = ingress ? kBpfTcxIngress : kBpfTcxEgress;
    attr.query.prog_ids = reinterpret_cast<std::uintptr_t>(ids);
    attr.query.prog_cnt = 64;
    if (::syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof attr) != 0) {
      error = errno_text("BPF_PROG_QUERY tcx");
      return;
    }
    result.emplace(ids, ids + std::min<std::uint32_t>(attr.query.prog_cnt, 64));
  });
  t.join();
  return result;
}

std::vector<json> cls_bpf_filters(const std::string& ns, const std::string& ifname, bool ingress) {
  std::vector<json> out;
  const auto r = run_in_netns(ns, {"tc", "-j", "filter", "show", "dev", ifname,
                                   ingress ? "ingress" : "egress"});
  if (r.rc != 0) return out;  // no clsact: no filters
  const auto j = parse_json(r.out.empty() ? "[]" : r.out);
  if (!j || !j->is_array()) throw std::runtime_error("tc filter show: " + r.describe());
  for (const auto& f : *j)
    if (f.value("kind", "") == "bpf" && f.contains("options")) out.push_back(f);
  return out;
}

bool has_clsact(const std::string& ns, const std::string& ifname) {
  const auto r = run_in_netns(ns, {"tc", "-j", "qdisc", "show", "dev", ifname});
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) return false;
  for (const auto& q : *j)
    if (q.value("kind", "") == "clsact") return true;
  return false;
}

std::optional<std::uint64_t> read_counter(const std::string& map_pin, std::uint32_t index) {
  const auto r = run({"bpftool", "-j", "map", "dump", "pinned", map_pin});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_array()) return std::nullopt;
  for (const auto& e : *j) {
    // With BTF: {"key":[hex...],"value":[hex...],"formatted":{"key":0,"value":6}} (bpftool 7.1)
    // or directly {"key":0,"value":6}; without BTF: hex byte arrays only.
    const json& kv = e.contains("formatted") ? e["formatted"] : e;
    if (!kv.contains("key") || !kv.contains("value")) continue;
    if (parse_number_or_hex(kv["key"]) == index) return parse_number_or_hex(kv["value"]);
  }
  return std::nullopt;
}

std::optional<std::vector<std::uint8_t>> map_value_bytes(std::uint32_t map_id) {
  const auto r = run({"bpftool", "-j", "map", "dump", "id", std::to_string(map_id)});
  if (r.rc != 0) return std::nullopt;
  const auto j = parse_json(r.out);
  if (!j || !j->is_array() || j->empty()) return std::nullopt;
  const json& v = (*j)[0]["value"];
  if (!v.is_array()) return std::nullopt;
  std::vector<std::uint8_t> out;
  for (const auto& b : v) {
    if (!b.is_string()) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(std::stoul(b.get<std::string>(), nullptr, 16)));
  }
  return out;
}

}  // namespace it
