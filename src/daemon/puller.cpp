#include "daemon/puller.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

extern char **environ;

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
    std::vector<char *> argv;
    for (const auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    const std::string err_path = j->dir + "/stderr";
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    // The daemon's blocked signals (its signalfd's, SIGCHLD) are not the child's.
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defaults);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) error = fmt::format("cannot run {}: {}", args[0], std::strerror(rc));
    else j->pid = pid;
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
  } else if (si->si_code != CLD_EXITED) {
    result = failed(j->ref, fmt::format("{} killed by signal {}", self->opts_.skopeo, si->si_status));
  } else if (si->si_status != 0) {
    const std::string said = skopeo_message(j->dir + "/stderr");
    result = failed(j->ref, fmt::format("{} exited with status {}{}{}", self->opts_.skopeo, si->si_status,
                                        said.empty() ? "" : ": ", said));
  } else {
    result.pulled_at = ::time(nullptr);
    auto read = read_pulled_dir(j->dir + "/image", j->ref);
    if (read) result.image = std::move(*read);
    else result.image = fail(read.error().with_message(fmt::format("pull {}: {}", j->ref.str(), read.error().message)));
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
