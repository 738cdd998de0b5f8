#include "daemon/images.h"

#include <time.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/puller.h"
#include "image/reference.h"

namespace bpfrec {

namespace {

uint64_t now_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

std::string rfc3339(int64_t unix_s) {
  const time_t t = static_cast<time_t>(unix_s);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

ImageManager::ImageManager(ImageOptions options, std::function<void(const std::string &)> on_change)
    : opts_(std::move(options)), on_change_(std::move(on_change)),
      objects_(std::make_unique<ObjectStore>(opts_.state_dir + "/bytecode/sha256")),
      images_(std::make_unique<ImageStore>(opts_.state_dir + "/images")) {}

ImageManager::~ImageManager() = default;

Result<void> ImageManager::open(sd_event *event) {
  event_ = event;
  auto unusable = [&](const Error &e) {
    sources_.error = fmt::format("state directory {} cannot be used: {}", opts_.state_dir, e.message);
    return fail("{}", sources_.error);
  };
  if (auto r = objects_->open(); !r) return unusable(r.error());
  auto skipped = images_->open();
  if (!skipped) return unusable(skipped.error());
  for (auto &s : *skipped) spdlog::warn("image store: skipping {}", s);
  PullOptions po;
  po.skopeo = opts_.skopeo;
  po.authfile = opts_.authfile;
  po.timeout_usec = opts_.pull_timeout_usec;
  po.work_dir = opts_.state_dir + "/pulls";
  po.runner = opts_.runner.value_or(auto_pull_runner());
  spdlog::info("image pulls run {}", po.runner == PullRunner::SystemdRun ? "in transient units (systemd-run)"
                                                                          : "as the daemon's children");
  puller_ = std::make_unique<ImagePuller>(event, po);
  sources_.images = images_.get();
  sources_.objects = objects_.get();
  return {};
}

bool ImageManager::pulling(const std::string &reference) const { return puller_ && puller_->pulling(reference); }

void ImageManager::request(const DesiredState &desired) {
  if (!puller_) return;
  std::set<std::string> wanted = desired.pulls;
  for (const auto &p : desired.programs)
    if (p.pull_policy == PullPolicy::Always && !p.bytecode_image.empty() && !resolved_.contains(p.bytecode_image) &&
        !sources_.failed.contains(p.bytecode_image))
      wanted.insert(p.bytecode_image);
  for (const auto &reference : wanted) {
    if (puller_->pulling(reference)) continue;
    auto ref = parse_image_reference(reference);  // the manifest parser accepted it: cannot fail
    if (!ref) continue;
    resolved_.insert(reference);
    spdlog::info("pulling {}", reference);
    puller_->pull(*ref, [this, reference](const PullResult &r) { done(reference, r); });
  }
}

void ImageManager::done(const std::string &reference, const PullResult &r) {
  std::string error;
  if (r.image) {
    if (auto w = store_pull(*objects_, *images_, reference, *r.image, rfc3339(r.pulled_at)); !w)
      error = fmt::format("pull {}: {}", reference, w.error().message);
    else {
      spdlog::info("pulled {}: {} (object sha256 {})", reference, r.image->digest, r.image->image.object.digest);
      sources_.failed.erase(reference);
      failures_.erase(reference);
    }
  } else {
    error = r.image.error().message;
  }
  if (!error.empty()) {
    Failure &f = failures_[reference];
    ++f.failures;
    uint64_t wait = opts_.retry_usec;
    for (unsigned i = 1; i < f.failures && wait < opts_.retry_max_usec; ++i) wait *= 2;
    wait = std::min(wait, opts_.retry_max_usec);
    f.retry_at_usec = now_usec() + wait;
    const bool fresh = sources_.failed[reference] != error;
    sources_.failed[reference] = error;
    spdlog::log(fresh ? spdlog::level::err : spdlog::level::debug, "{} (try {}; next in {} s)", error, f.failures,
                wait / 1'000'000);
    arm_retry();
  }
  if (on_change_) on_change_(error.empty() ? "image pulled: " + reference : "image pull failed: " + reference);
}

void ImageManager::retry_now(bool always_again) {
  sources_.failed.clear();
  failures_.clear();
  retry_timer_.reset();
  if (always_again) resolved_.clear();
}

void ImageManager::arm_retry() {
  uint64_t next = UINT64_MAX;
  for (const auto &[_, f] : failures_) next = std::min(next, f.retry_at_usec);
  if (next == UINT64_MAX || !event_) {
    retry_timer_.reset();
    return;
  }
  if (retry_timer_) {
    (void)sd_event_source_set_time(retry_timer_.get(), next);
    (void)sd_event_source_set_enabled(retry_timer_.get(), SD_EVENT_ONESHOT);
    return;
  }
  sd_event_source *s = nullptr;
  if (int r = sd_event_add_time(event_, &s, CLOCK_MONOTONIC, next, 100'000, on_retry, this); r < 0) {
    spdlog::error("cannot arm the image pull retry timer: {}", std::strerror(-r));
    return;
  }
  retry_timer_.reset(s);
}

int ImageManager::on_retry(sd_event_source *, uint64_t, void *userdata) {
  auto *m = static_cast<ImageManager *>(userdata);
  const uint64_t now = now_usec();
  std::vector<std::string> due;
  for (const auto &[ref, f] : m->failures_)
    if (f.retry_at_usec <= now) due.push_back(ref);
  // Due references leave `failed`: the next load_desired() lists them in pulls again. Their
  // failure count stays, so that the next failure waits longer.
  for (const auto &ref : due) m->sources_.failed.erase(ref);
  for (const auto &ref : due) m->failures_[ref].retry_at_usec = UINT64_MAX;
  m->arm_retry();
  if (!due.empty() && m->on_change_) m->on_change_("image pull retry");
  return 0;
}

void ImageManager::collect(const DesiredState &desired, const ObservedState &after) {
  if (!objects_ || !images_) return;
  if (desired.unreadable_directory() || !desired.invalid_manifest_names().empty()) return;
  std::set<std::string> refs;
  for (const auto &p : desired.programs)
    if (!p.bytecode_image.empty()) refs.insert(p.bytecode_image);
  for (const auto &w : desired.waiting) refs.insert(w.reference);
  if (auto r = images_->collect(refs); !r) spdlog::warn("image store: {}", r.error().message);
  else if (*r) spdlog::info("image store: removed {} entr{} no manifest names", *r, *r == 1 ? "y" : "ies");
  std::set<std::string> keep = images_->objects();
  for (const auto &[_, p] : after.programs) keep.insert(p.bytecode_sha256);
  for (const auto &p : after.stale) keep.insert(p.bytecode_sha256);
  for (const auto &p : desired.programs) keep.insert(p.bytecode_digest);
  if (auto r = objects_->collect(keep); !r) spdlog::warn("bytecode store: {}", r.error().message);
  else if (*r) spdlog::debug("bytecode store: removed {} object{} no program needs", *r, *r == 1 ? "" : "s");
}

}  // namespace bpfrec
