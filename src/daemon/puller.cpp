#include "daemon/puller.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace bpfrec {

namespace fs = std::filesystem;

namespace {

PullResult failed(const ImageReference &ref, std::string why, ErrorKind kind = ErrorKind::Other) {
  PullResult r;
  r.image = fail(Error{0, fmt::format("pull {}: {}", ref.str(), why), kind});
  r.pulled_at = ::time(nullptr);
  return r;
}

}  // namespace

ImagePuller::ImagePuller(sd_event *event, PullOptions options) : event_(event), opts_(std::move(options)) {
  // Leftovers of a daemon that died during a pull.
  std::error_code ec;
  fs::remove_all(opts_.work_dir, ec);
  fs::create_directories(opts_.work_dir, ec);
  if (ec) spdlog::warn("image pulls: cannot create {}: {}", opts_.work_dir, ec.message());
}

ImagePuller::~ImagePuller() = default;  // the child sources own their processes: SIGKILL on unref

bool ImagePuller::pulling(const std::string &reference) const {
  if (running_.contains(reference)) return true;
  for (const auto &j : queued_)
    if (j->ref.str() == reference) return true;
  return false;
}

void ImagePuller::pull(const ImageReference &ref, Done done) {
  if (pulling(ref.str())) return;
  auto job = std::make_unique<Job>();
  job->owner = this;
  job->ref = ref;
  job->done = std::move(done);
  if (running_.size() >= opts_.max_parallel) {
    queued_.push_back(std::move(job));
    return;
  }
  start(std::move(job));
}

void ImagePuller::start(std::unique_ptr<Job> job) {
  Job *j = job.get();
  const std::string key = j->ref.str();
  running_[key] = std::move(job);
  j->dir = fmt::format("{}/{}", opts_.work_dir, ++serial_);
  std::string error;
  std::error_code ec;
  fs::remove_all(j->dir, ec);
  fs::create_directories(j->dir + "/tmp", ec);
  if (ec) error = fmt::format("cannot create {}: {}", j->dir, ec.message());

  if (error.empty()) {
    SkopeoCommand cmd{opts_.skopeo, effective_authfile(opts_.authfile), j->dir + "/tmp"};
    std::vector<std::string> args = skopeo_pull_argv(cmd, j->ref, j->dir + "/image");
    if (opts_.runner == PullRunner::SystemdRun)
      args = systemd_run_argv({fmt::format("bpfman-reconciler-pull-{}-{}.service", ::getpid(), serial_), j->dir,
                               opts_.timeout_usec, "bpfman-reconciler image pull " + key, pull_environment()},
                              args);
    auto pid = spawn_process(args, -1, j->dir + "/stderr");
    if (!pid) error = pid.error().message;
    else j->pid = *pid;
  }
  if (j->pid > 0) {
    sd_event_source *s = nullptr;
    if (int r = sd_event_add_child(event_, &s, j->pid, WEXITED, on_child, j); r < 0) {
      error = fmt::format("cannot watch {} (pid {}): {}", opts_.skopeo, j->pid, std::strerror(-r));
      ::kill(j->pid, SIGKILL);
      (void)::waitpid(j->pid, nullptr, 0);
      j->pid = -1;
    } else {
      j->child.reset(s);
      (void)sd_event_source_set_child_process_own(s, 1);
      spdlog::debug("pull {}: {} started (pid {}{})", key, opts_.skopeo, j->pid,
                    opts_.runner == PullRunner::SystemdRun ? ", in a transient unit" : "");
    }
  }
  // The timeout; or, when nothing runs, the failure reported from the loop (never from pull()).
  sd_event_source *t = nullptr;
  if (int r = sd_event_add_time_relative(event_, &t, CLOCK_MONOTONIC, j->pid > 0 ? opts_.timeout_usec : 0, 100'000,
                                         on_timeout, j);
      r < 0) {
    spdlog::error("pull {}: cannot arm its timer: {}", key, std::strerror(-r));
    if (j->pid < 0) finish(j, failed(j->ref, error.empty() ? "no timer" : error));
    return;
  }
  j->timer.reset(t);
  j->error = std::move(error);
}

int ImagePuller::on_timeout(sd_event_source *, uint64_t, void *userdata) {
  auto *j = static_cast<Job *>(userdata);
  if (j->pid < 0) {
    j->owner->finish(j, failed(j->ref, j->error.empty() ? "not started" : j->error));
    return 0;
  }
  j->timed_out = true;
  spdlog::warn("pull {}: timed out after {} s, killing {} (pid {})", j->ref.str(), j->owner->opts_.timeout_usec / 1'000'000,
               j->owner->opts_.skopeo, j->pid);
  ::kill(j->pid, SIGKILL);
  return 0;
}

int ImagePuller::on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
  auto *j = static_cast<Job *>(userdata);
  ImagePuller *self = j->owner;
  (void)sd_event_source_set_child_process_own(s, 0);  // it has exited: nothing to kill
  PullResult result;
  if (j->timed_out) {
    result = failed(j->ref, fmt::format("timed out after {} s", self->opts_.timeout_usec / 1'000'000),
                    ErrorKind::Transient);
  } else {
    result.pulled_at = ::time(nullptr);
    result.image = pull_outcome(j->ref, j->dir, self->opts_.skopeo, si->si_code == CLD_EXITED, si->si_status);
  }
  self->finish(j, std::move(result));
  return 0;
}

void ImagePuller::finish(Job *job, PullResult result) {
  auto it = running_.find(job->ref.str());
  if (it == running_.end() || it->second.get() != job) return;
  std::unique_ptr<Job> owned = std::move(it->second);
  running_.erase(it);
  std::error_code ec;
  fs::remove_all(owned->dir, ec);
  Done done = std::move(owned->done);
  // The job's sources are unreferenced after the callback: one of them is being dispatched.
  start_queued();
  if (done) done(result);
  owned.reset();
}

void ImagePuller::start_queued() {
  while (!queued_.empty() && running_.size() < opts_.max_parallel) {
    auto job = std::move(queued_.front());
    queued_.pop_front();
    start(std::move(job));
  }
}

}  // namespace bpfrec
