// Image pulls on the daemon's event loop (issue 14): each pull is a skopeo child process
// (image/pull.h) watched with sd_event_add_child(3) and a timeout timer, so that D-Bus, signals
// and reconciles go on while a registry is slow or hangs. At most max_parallel run at once;
// the others queue in order.
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "image/pull.h"
#include "util/result.h"
#include "util/sd_ptr.h"

namespace bpfrec {

/// What an ImagePuller is told.
struct PullOptions {
  std::string skopeo = "skopeo";
  std::string authfile;  ///< as given (effective_authfile() resolves it per pull)
  uint64_t timeout_usec = 120'000'000;  ///< per pull; the child is killed (SIGKILL) after it
  /// Scratch space, one subdirectory per pull (removed when it ends); emptied at start.
  std::string work_dir;
  unsigned max_parallel = 4;
  /// Where skopeo runs (image/pull.h): the daemon's child, or a transient unit of its own.
  PullRunner runner = PullRunner::Direct;
};

/// How one pull ended. `image` holds the error otherwise, its message starting "pull REF: ".
struct PullResult {
  Result<PulledImage> image;
  int64_t pulled_at = 0;  ///< when it ended, seconds since the epoch (CLOCK_REALTIME)
};

/// Runs pulls as child processes of the daemon. Requires SIGCHLD blocked in every thread
/// (sd_event_add_child(3)); the daemon blocks it with its other signals. Destroying it kills
/// the pulls still running (sd_event_source_set_child_process_own(3)) without calling back.
class ImagePuller {
 public:
  using Done = std::function<void(const PullResult &)>;
  ImagePuller(sd_event *event, PullOptions options);
  ~ImagePuller();
  ImagePuller(const ImagePuller &) = delete;
  ImagePuller &operator=(const ImagePuller &) = delete;

  /// Starts (or queues) a pull of `ref`; `done` is called once, from the loop, when it ends. A
  /// reference already being pulled is not pulled twice: `done` is dropped then (the caller
  /// asks pulling() first).
  void pull(const ImageReference &ref, Done done);
  /// Whether `reference` (ImageReference::str()) is running or queued.
  bool pulling(const std::string &reference) const;

 private:
  struct Job {
    ImagePuller *owner = nullptr;
    ImageReference ref;
    Done done;
    std::string dir;
    pid_t pid = -1;
    bool timed_out = false;
    std::string error;  // why it could not start (reported from the loop)
    SourcePtr child, timer;
  };
  void start(std::unique_ptr<Job> job);
  void finish(Job *job, PullResult result);
  void start_queued();
  static int on_child(sd_event_source *, const siginfo_t *si, void *userdata);
  static int on_timeout(sd_event_source *, uint64_t, void *userdata);

  sd_event *event_;
  PullOptions opts_;
  uint64_t serial_ = 0;
  std::map<std::string, std::unique_ptr<Job>> running_;  // by reference
  std::deque<std::unique_ptr<Job>> queued_;
};

}  // namespace bpfrec
