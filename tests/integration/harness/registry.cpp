#include "harness/registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "harness/common.h"
#include "harness/files.h"
#include "harness/internal.h"
#include "harness/process.h"

namespace fs = std::filesystem;

namespace it {

using detail::errno_text;

namespace {

constexpr const char* kRegistryBin = "/usr/bin/docker-registry";

/// A loopback TCP socket bound to 127.0.0.1:port (0: any free port), or -1 with errno.
int bind_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/// The port a bound socket has.
int bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  return ntohs(addr.sin_port);
}

/// A port that was free a moment ago (bound to 0 and closed again).
int free_port() {
  const int fd = bind_loopback(0);
  if (fd < 0) throw std::runtime_error(errno_text("bind 127.0.0.1:0"));
  const int port = bound_port(fd);
  ::close(fd);
  if (port <= 0) throw std::runtime_error("no free loopback port");
  return port;
}

/// The HTTP status of GET `path` on 127.0.0.1:port, 0 when there is no answer within `timeout`.
int http_get_status(int port, const std::string& path, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      std::string resp;
      char buf[512];
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      pollfd pfd{fd, POLLIN, 0};
      while (resp.find("\r\n") == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) break;
        resp.append(buf, static_cast<std::size_t>(r));
      }
      // "HTTP/1.1 200 OK"
      if (resp.starts_with("HTTP/1.") && resp.size() >= 12) status = std::atoi(resp.c_str() + 9);
    }
  }
  ::close(fd);
  return status;
}

/// RFC 4648 base64 with padding.
std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw std::runtime_error("cannot write " + path);
}

/// The layout's "latest" descriptor from index.json (the first entry when none is tagged).
json latest_descriptor(const std::string& layout_dir) {
  const auto index = detail::parse_json(read_file(layout_dir + "/index.json"));
  if (!index || !index->contains("manifests") || !(*index)["manifests"].is_array() ||
      (*index)["manifests"].empty())
    throw std::runtime_error(layout_dir + "/index.json: not an OCI image index with manifests");
  const json& entries = (*index)["manifests"];
  for (const auto& e : entries)
    if (e.value("annotations", json::object()).value("org.opencontainers.image.ref.name", "") == "latest")
      return e;
  return entries.front();
}

/// The hex part of "sha256:<hex>"; throws on anything else.
std::string digest_hex(const json& descriptor) {
  const std::string d = descriptor.value("digest", "");
  if (!d.starts_with("sha256:") || d.size() != 7 + 64) throw std::runtime_error("bad digest '" + d + "'");
  return d.substr(7);
}

/// Copies the image under `top` in an OCI layout to a skopeo dir: layout at `out` (version,
/// manifest.json, <hex>.manifest.json per list instance, <hex> per config and layer blob).
void oci_layout_to_dir(const std::string& layout_dir, const json& top, const std::string& out) {
  const std::string blobs = layout_dir + "/blobs/sha256/";
  fs::create_directories(out);
  write_text(out + "/version", "Directory Transport Version: 1.1\n");
  const auto copy = [&](const std::string& hex, const std::string& name) {
    fs::copy_file(blobs + hex, out + "/" + name, fs::copy_options::overwrite_existing);
  };
  const auto copy_image_blobs = [&](const std::string& manifest_hex) {
    const auto m = detail::parse_json(read_file(blobs + manifest_hex));
    if (!m || !m->contains("config")) throw std::runtime_error("manifest " + manifest_hex + " is not an image manifest");
    copy(digest_hex((*m)["config"]), digest_hex((*m)["config"]));
    for (const auto& l : m->value("layers", json::array())) copy(digest_hex(l), digest_hex(l));
  };
  const std::string top_hex = digest_hex(top);
  copy(top_hex, "manifest.json");
  const auto m = detail::parse_json(read_file(blobs + top_hex));
  if (!m) throw std::runtime_error("blob " + top_hex + " is not JSON");
  if (m->contains("manifests")) {
    for (const auto& inst : (*m)["manifests"]) {
      const std::string hex = digest_hex(inst);
      copy(hex, hex + ".manifest.json");
      copy_image_blobs(hex);
    }
  } else {
    copy_image_blobs(top_hex);
  }
}

}  // namespace

std::string registry_skip_reason() {
  if (::access(kRegistryBin, X_OK) != 0) return std::string(kRegistryBin) + " missing (apt install docker-registry)";
  if (!detail::find_in_path("skopeo")) return "skopeo missing (apt install skopeo)";
  return "";
}

Registry::Registry(std::string user, std::string password) : user_(std::move(user)), password_(std::move(password)) {
  dir_ = make_temp_dir("it-registry-");
  try {
    fs::create_directories(dir_ + "/storage");
    if (!user_.empty()) {
      // docker-registry's htpasswd file takes bcrypt entries only (libxcrypt's $2b$).
      const auto hash = run({"python3", "-W", "ignore", "-c",
                             "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                             password_});
      if (hash.rc != 0 || !hash.out.starts_with("$2")) throw std::runtime_error("bcrypt hash: " + hash.describe());
      write_text(dir_ + "/htpasswd", user_ + ":" + hash.out);
    }
    fs::create_directories(dir_ + "/tmp");
    fs::create_directories(dir_ + "/home/.config/containers");
    write_text(dir_ + "/home/.config/containers/policy.json",
               R"({"default":[{"type":"insecureAcceptAnything"}]})"
               "\n");
    // Another process may take the port between free_port() and the registry's bind: try again
    // on another one then.
    std::string why;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (launch(why)) break;
      if (why.find("address already in use") == std::string::npos) break;
    }
    if (!running()) throw std::runtime_error("docker-registry did not start: " + why);
    write_text(dir_ + "/home/.config/containers/registries.conf",
               "[[registry]]\nlocation = \"" + host() + "\"\ninsecure = true\n");
    if (!user_.empty()) {
      authfile_ = dir_ + "/auth.json";
      write_text(authfile_, "{\"auths\": {\"" + host() + "\": {\"auth\": \"" + base64(user_ + ":" + password_) +
                                "\"}}}\n");
    }
  } catch (...) {
    proc_.reset();
    remove_tree(dir_);
    throw;
  }
}

Registry::~Registry() {
  stop();
  remove_tree(dir_);
}

std::string Registry::host() const { return "127.0.0.1:" + std::to_string(port_); }

std::string Registry::home() const { return dir_ + "/home"; }

std::string Registry::blob_path(const std::string& digest) const {
  const std::string hex = digest.substr(digest.find(':') + 1);
  return dir_ + "/storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

bool Registry::running() { return proc_ && proc_->alive(); }

bool Registry::launch(std::string& why) {
  proc_.reset();
  const std::string config = dir_ + "/config.yml";
  const std::string log = dir_ + "/registry.log";
  std::string auth;
  if (!user_.empty())
    auth = "auth:\n"
           "  htpasswd:\n"
           "    realm: it-registry\n"
           "    path: " + dir_ + "/htpasswd\n";
  write_text(config, auth + "version: 0.1\n"
                     "log:\n"
                     "  level: warn\n"
                     "  accesslog:\n"
                     "    disabled: true\n"
                     "storage:\n"
                     "  filesystem:\n"
                     "    rootdirectory: " + dir_ + "/storage\n"
                     "  delete:\n"
                     "    enabled: true\n"
                     "http:\n"
                     "  addr: " + host() + "\n"
                     "  secret: it-registry-secret\n");
  write_text(log, "");
  proc_ = std::make_unique<BackgroundCommand>(std::vector<std::string>{kRegistryBin, "serve", config}, log);
  bool up = false;
  wait_until([&] { return !proc_->alive() || (up = http_get_status(port_, "/v2/", 1s) == (user_.empty() ? 200 : 401)); }, 15s, 50ms);
  if (up) return true;
  why = (proc_->alive() ? "GET /v2/ on " + host() + " did not answer " + (user_.empty() ? "200" : "401") + " within 15s"
                        : "it exited") + "; log:\n" + read_file(log);
  proc_.reset();
  return false;
}

void Registry::start() {
  if (running()) return;
  std::string why;
  if (!launch(why)) throw std::runtime_error("docker-registry did not start again on " + host() + ": " + why);
}

void Registry::stop() { proc_.reset(); }

std::string Registry::push(const std::string& layout_dir, const std::string& repo_tag) {
  const json top = latest_descriptor(layout_dir);
  const std::string n = std::to_string(++pushes_);
  std::string source = "oci:" + layout_dir + ":latest";
  std::string dir_copy;
  if (top.value("mediaType", "").starts_with("application/vnd.docker.")) {
    dir_copy = dir_ + "/push-" + n;
    oci_layout_to_dir(layout_dir, top, dir_copy);
    source = "dir:" + dir_copy;
  }
  const std::string digestfile = dir_ + "/push-" + n + ".digest";
  std::vector<std::string> argv = {"env", "HOME=" + home(), "skopeo", "--tmpdir", dir_ + "/tmp", "copy", "--quiet",
                                   "--preserve-digests", "--multi-arch", "all", "--dest-tls-verify=false"};
  if (!authfile_.empty()) argv.insert(argv.end(), {"--dest-authfile", authfile_});
  argv.insert(argv.end(), {"--digestfile", digestfile, source, "docker://" + host() + "/" + repo_tag});
  const auto res = run(argv, 120s);
  if (!dir_copy.empty()) remove_tree(dir_copy);
  std::string digest = read_file(digestfile);
  remove_tree(digestfile);
  while (!digest.empty() && (digest.back() == '\n' || digest.back() == ' ')) digest.pop_back();
  if (res.rc != 0 || !digest.starts_with("sha256:"))
    throw std::runtime_error("skopeo copy " + source + " to " + host() + "/" + repo_tag + " failed: " +
                             res.describe());
  return digest;
}

ScopedHome::ScopedHome(const std::string& home) {
  if (const char* h = std::getenv("HOME")) previous_ = h;
  ::setenv("HOME", home.c_str(), 1);
}

ScopedHome::~ScopedHome() {
  if (previous_) ::setenv("HOME", previous_->c_str(), 1);
  else ::unsetenv("HOME");
}

SilentListener::SilentListener() {
  fd_ = bind_loopback(0);
  if (fd_ < 0) throw std::runtime_error(errno_text("bind 127.0.0.1:0"));
  port_ = bound_port(fd_);
  if (port_ <= 0 || ::listen(fd_, 64) != 0) {
    const std::string why = errno_text("listen");
    ::close(fd_);
    throw std::runtime_error(why);
  }
  thread_ = std::thread([this] { loop(); });
}

SilentListener::~SilentListener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

std::string SilentListener::host() const { return "127.0.0.1:" + std::to_string(port_); }

void SilentListener::loop() {
  std::vector<int> conns;
  while (!stop_) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) conns.push_back(c);
  }
  for (const int c : conns) ::close(c);
}

}  // namespace it
