#include <chrono>

#include <spdlog/spdlog.h>

#include "bus/bus.h"
#include "kernel/foreign.h"

namespace bpfrec {
namespace {

int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *) {
  // Answered by the daemon once a reconcile that began after this call is complete (at once
  // when it fits in one slice): the loop never waits for it (BusService::reload_call). A handler
  // that returns without a reply leaves the reply to us (sd-bus: no automatic reply).
  static_cast<BusService *>(userdata)->reload_call(m);
  return 1;
}

// The foreign scan costs ~13 ms at 500 programs of ours (bpfman-bench loop.foreign.scan: a
// stat per pin, pins opened only when new; one GET_INFO per program and link in the kernel). While a reconcile is applied, a
// Describe() between two slices reuses a scan up to this old, so that the loop goes back to
// the apply sooner; otherwise every Describe() scans afresh (foreign programs appear at once).
constexpr auto kForeignReuse = std::chrono::seconds(2);

struct ForeignCache {
  nlohmann::json doc;
  std::chrono::steady_clock::time_point at{};
  ForeignScanCache pins;  // what each pin holds, by pin identity (foreign.h)
};

int method_describe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
  auto *d = static_cast<BusService *>(userdata);
  // Every other program on the node (read-only; bpfman's `list --all`). One daemon a process
  // and one thread: the caches need no lock.
  static ForeignCache cache;
  static StatusTextCache text;
  const auto now = std::chrono::steady_clock::now();
  nlohmann::json foreign;
  if (d->reconciling() && !cache.doc.is_null() && now - cache.at < kForeignReuse) {
    foreign = cache.doc;
    foreign["cached_ms"] = std::chrono::duration<double, std::milli>(now - cache.at).count();
  } else {
    cache.doc = foreign_to_json(list_foreign(d->pin_root(), "/sys/fs/bpf", &cache.pins));
    cache.doc["pins_opened"] = cache.pins.opened;
    cache.at = now;
    foreign = cache.doc;
    foreign["cached_ms"] = 0.0;
  }
  const std::string doc = describe_text(d->status(), foreign, text);
  // dbus-daemon drops a connection that sends a message over its max_message_size, and the
  // daemon would be off the bus for good (issue 11 bug 3): answer with an error instead.
  if (doc.size() > kMaxReplyBytes) {
    spdlog::warn("Describe(): the status document is {} bytes, more than the {} a D-Bus reply may carry; "
                 "answered with an error", doc.size(), kMaxReplyBytes);
    return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                             "the status document is %zu bytes, more than the %zu bytes a D-Bus message may carry "
                             "(dbus-daemon's max_message_size); read the programs' objects instead",
                             doc.size(), kMaxReplyBytes);
  }
  return sd_bus_reply_method_return(m, "s", doc.c_str());
}

int prop_state(sd_bus *, const char *, const char *, const char *, sd_bus_message *reply, void *userdata,
               sd_bus_error *) {
  return sd_bus_message_append(reply, "s", to_string(static_cast<BusService *>(userdata)->status().state).data());
}

int prop_reconciling(sd_bus *, const char *, const char *, const char *, sd_bus_message *reply, void *userdata,
                     sd_bus_error *) {
  return sd_bus_message_append(reply, "b", static_cast<BusService *>(userdata)->status().reconciling.has_value());
}

int prop_generation(sd_bus *, const char *, const char *, const char *, sd_bus_message *reply, void *userdata,
                    sd_bus_error *) {
  return sd_bus_message_append(reply, "t", static_cast<BusService *>(userdata)->status().generation);
}

const sd_bus_vtable manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, 0),
    SD_BUS_METHOD_WITH_ARGS("Describe", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_describe,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("State", "s", prop_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Generation", "t", prop_generation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Reconciling", "b", prop_reconciling, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_VTABLE_END};

}  // namespace

int register_manager(sd_bus *bus, BusService *daemon, std::vector<SlotPtr> &slots) {
  sd_bus_slot *slot = nullptr;
  int r = sd_bus_add_object_vtable(bus, &slot, kManagerPath, kManagerInterface, manager_vtable, daemon);
  if (r < 0) return r;
  slots.emplace_back(slot);
  return 0;
}

}  // namespace bpfrec
