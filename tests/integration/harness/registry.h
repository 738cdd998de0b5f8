// Container registries for the bytecode-image tests: a real docker-registry (distribution v2) on
// a free loopback port, pushing OCI layouts into it with skopeo, and a listener that never
// answers (a registry that hangs).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace it {

class BackgroundCommand;

/// Why a registry test cannot run here (empty when it can): /usr/bin/docker-registry or skopeo
/// missing.
std::string registry_skip_reason();

/// A real docker-registry (Debian package docker-registry, distribution v2) on
/// 127.0.0.1:<free port>, storage in a temp dir, plain HTTP. Its log is <temp dir>/registry.log.
class Registry {
 public:
  /// Starts it and waits until GET /v2/ answers; throws std::runtime_error with the log on
  /// failure. With a `user`, the registry asks for HTTP basic auth (its htpasswd access
  /// controller, a bcrypt entry made with python3's crypt) with `password`; authfile() holds
  /// the credentials and push() uses them.
  Registry(std::string user = "", std::string password = "");
  /// Stops it and removes the temp dir (storage, home, log).
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// "127.0.0.1:PORT".
  std::string host() const;
  /// A HOME dir whose .config/containers/registries.conf marks host() insecure (plain HTTP) and
  /// whose .config/containers/policy.json accepts anything: skopeo 1.9 reads both from $HOME
  /// (it ignores CONTAINERS_REGISTRIES_CONF). Run skopeo with HOME=home() to talk to it.
  std::string home() const;
  /// Pushes the OCI image layout at `layout_dir` (its "latest", e.g. from make-bytecode-image) as
  /// REPO:TAG with `skopeo copy --preserve-digests --multi-arch all --dest-tls-verify=false
  /// oci:DIR:latest docker://HOST/REPO:TAG`, and returns the digest the registry holds
  /// ("sha256:<hex>", from --digestfile): the layout's top manifest or index, unchanged.
  /// A layout whose top is a Docker manifest or manifest list is pushed from a dir: copy of it
  /// instead (skopeo 1.9's oci: source skips index.json entries of Docker media types).
  /// Throws std::runtime_error on failure.
  std::string push(const std::string& layout_dir, const std::string& repo_tag);
  /// A containers-auth.json(5) file with this registry's credentials ({"auths": {HOST: {"auth":
  /// base64(user:password)}}}); empty without auth.
  std::string authfile() const { return authfile_; }
  /// The file the registry serves blob `digest` ("sha256:<hex>") from (its filesystem storage
  /// driver's docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data), for tampering tests.
  std::string blob_path(const std::string& digest) const;
  /// SIGTERM and wait (SIGKILL after 2s). The port stays this registry's (start() reuses it),
  /// and the storage is kept.
  void stop();
  /// Starts it again on the same port with the same storage and waits until GET /v2/ answers;
  /// throws std::runtime_error with the log on failure. No-op when it is running.
  void start();
  /// Whether the registry process is running.
  bool running();

 private:
  /// Starts it on port_ and waits for /v2/; false with `why` when it exited or never answered.
  bool launch(std::string& why);
  std::string dir_;
  int port_ = 0;
  int pushes_ = 0;
  std::string user_, password_, authfile_;
  std::unique_ptr<BackgroundCommand> proc_;
};

/// Sets $HOME for this process (and the daemons it starts) while it lives, then puts back what
/// was there (or unsets it): skopeo 1.9 reads $HOME/.config/containers/registries.conf, which is
/// how a Registry's home() marks it insecure. Later setenv("HOME") calls are undone too.
class ScopedHome {
 public:
  explicit ScopedHome(const std::string& home);
  ~ScopedHome();
  ScopedHome(const ScopedHome&) = delete;
  ScopedHome& operator=(const ScopedHome&) = delete;

 private:
  std::optional<std::string> previous_;
};

/// A TCP listener on 127.0.0.1:<free port> that accepts connections and never answers (a
/// registry that hangs), on a thread. Accepted connections stay open until destruction.
class SilentListener {
 public:
  /// Binds, listens and starts the thread; throws std::runtime_error on failure.
  SilentListener();
  /// Stops the thread and closes the listener and every accepted connection.
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  /// "127.0.0.1:PORT".
  std::string host() const;

 private:
  void loop();
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace it
