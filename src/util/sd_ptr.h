// Owning pointers for sd-event and sd-bus objects (libsystemd): they are reference counted, and
// the deleters drop our reference (sd_event_unref(3), sd_bus_unref(3), sd_bus_slot_unref(3),
// sd_event_source_unref(3), sd_bus_message_unref(3)).
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <memory>

namespace bpfrec {

struct EventUnref {
  void operator()(sd_event *e) const { sd_event_unref(e); }
};
struct BusUnref {
  void operator()(sd_bus *b) const { sd_bus_flush_close_unref(b); }
};
struct SlotUnref {
  void operator()(sd_bus_slot *s) const { sd_bus_slot_unref(s); }
};
struct SourceUnref {
  void operator()(sd_event_source *s) const { sd_event_source_unref(s); }
};
struct MessageUnref {
  void operator()(sd_bus_message *m) const { sd_bus_message_unref(m); }
};
using EventPtr = std::unique_ptr<sd_event, EventUnref>;
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;
using SourcePtr = std::unique_ptr<sd_event_source, SourceUnref>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

}  // namespace bpfrec
