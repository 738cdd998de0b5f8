// Image bytecode for the daemon (issue 14): the state directory's stores, the puller, and
// which references to pull when. The daemon hands load_desired() sources(), asks request()
// for what a reconcile's desired state needs, and reconciles again when on_change says so.
#pragma once

#include <systemd/sd-event.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "image/pull.h"
#include "load/desired.h"
#include "reconcile/state.h"
#include "store/image_store.h"
#include "store/object_store.h"
#include "util/result.h"
#include "util/sd_ptr.h"

namespace bpfrec {

class ImagePuller;

/// The daemon's image options (bpfman-reconciler daemon --state-dir, --authfile, --pull-timeout).
struct ImageOptions {
  /// Survives reboots (the unit's StateDirectory=): bytecode/sha256/<hex>, images/, pulls/.
  std::string state_dir = "/var/lib/bpfman-reconciler";
  /// containers-auth.json(5) file for pulls; empty: /var/lib/kubelet/config.json when it exists
  /// (the cluster pull secret), else containers' default lookup.
  std::string authfile;
  uint64_t pull_timeout_usec = 120'000'000;  ///< per pull; the puller is killed after it
  std::string skopeo = "skopeo";             ///< the program that pulls
  /// Where it runs (--pull-runner): nullopt is auto_pull_runner() (a transient unit under systemd).
  std::optional<PullRunner> runner;
  /// First retry of a reference whose pull failed, doubling to retry_max_usec; a Reload() or a
  /// manifest change retries at once.
  uint64_t retry_usec = 10'000'000, retry_max_usec = 300'000'000;
};

/// Owns the stores and the puller; single-threaded, on the daemon's loop.
class ImageManager {
 public:
  /// `on_change(why)` is called from the loop when a pull ended (its entry is stored or its
  /// error recorded) or a failed reference is due for a retry: the daemon reconciles again.
  ImageManager(ImageOptions options, std::function<void(const std::string &)> on_change);
  ~ImageManager();

  /// Opens (creates) the stores under state_dir and sets up the puller on `event`. Errors:
  /// the state directory cannot be created or listed; entries that cannot be read are
  /// logged and skipped (their references are pulled again when wanted).
  Result<void> open(sd_event *event);

  /// What load_desired() reads image bytecode from (the stores, and the failed references).
  const ImageSources &sources() const { return sources_; }
  /// The object store the kernel keeps every loaded program's bytes in (valid from
  /// construction; usable once open() succeeded).
  ObjectStore *objects() { return objects_.get(); }

  /// Starts the pulls `desired` needs: DesiredState::pulls, and (pull_policy Always) every
  /// image reference not resolved again since the daemon started or since the last reload().
  /// Never waits: each pull ends on the loop, and on_change reconciles.
  void request(const DesiredState &desired);

  /// An explicit reload (D-Bus Reload(), SIGHUP) or a manifest change: failed references are
  /// tried again now; with `always_again` (a reload), Always references are resolved again.
  void retry_now(bool always_again);

  /// Removes store entries and objects nothing needs: image entries no manifest names, objects
  /// no program in `after` runs and no entry refers to. Skipped while a manifest is invalid or
  /// a directory unreadable (what they declare is not known). Errors are logged.
  void collect(const DesiredState &desired, const ObservedState &after);

  /// Whether a pull of `reference` is running.
  bool pulling(const std::string &reference) const;

 private:
  void done(const std::string &reference, const struct PullResult &r);
  void arm_retry();
  static int on_retry(sd_event_source *, uint64_t, void *userdata);

  ImageOptions opts_;
  std::function<void(const std::string &)> on_change_;
  sd_event *event_ = nullptr;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<ImageStore> images_;
  std::unique_ptr<ImagePuller> puller_;
  ImageSources sources_;
  struct Failure {
    unsigned failures = 0;
    uint64_t retry_at_usec = 0;  // CLOCK_MONOTONIC
  };
  std::map<std::string, Failure> failures_;  // by reference, while in sources_.failed
  std::set<std::string> resolved_;  // Always references resolved since start or the last reload
  SourcePtr retry_timer_;
};

}  // namespace bpfrec
