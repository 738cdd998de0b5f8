#include <cstdlib>
#include <cstring>

#include "bus/bus.h"

namespace bpfrec {
namespace {

const ProgramStatus *find(BusService *d, const char *path) {
  char *name = nullptr;
  if (sd_bus_path_decode(path, kProgramPrefix, &name) <= 0) return nullptr;
  std::string n(name);
  std::free(name);
  for (auto &p : d->status().programs)
    if (p.name == n) return &p;
  return nullptr;
}

int find_object(sd_bus *, const char *path, const char *, void *userdata, void **found, sd_bus_error *) {
  const ProgramStatus *p = find(static_cast<BusService *>(userdata), path);
  if (!p) return 0;
  *found = userdata;  // properties look the program up by path: status_ may be rebuilt between calls
  return 1;
}

int enumerate(sd_bus *, const char *, void *userdata, char ***nodes, sd_bus_error *) {
  auto *d = static_cast<BusService *>(userdata);
  const auto &progs = d->status().programs;
  char **v = static_cast<char **>(std::calloc(progs.size() + 1, sizeof(char *)));
  if (!v) return -ENOMEM;
  for (size_t i = 0; i < progs.size(); ++i) v[i] = strdup(program_object_path(progs[i].name).c_str());
  *nodes = v;
  return 0;
}

int prop_string(sd_bus *, const char *path, const char *, const char *property, sd_bus_message *reply,
                void *userdata, sd_bus_error *) {
  const ProgramStatus *p = find(static_cast<BusService *>(userdata), path);
  if (!p) return -ENOENT;
  std::string_view prop(property);
  if (prop == "State") return sd_bus_message_append(reply, "s", to_string(p->state).data());  // a literal: NUL-terminated
  const std::string &v = prop == "Name"   ? p->name
                         : prop == "Type"  ? p->type
                         : prop == "Error" ? p->error
                                           : p->manifest;
  return sd_bus_message_append(reply, "s", v.c_str());
}

int prop_kernel_id(sd_bus *, const char *path, const char *, const char *, sd_bus_message *reply, void *userdata,
                   sd_bus_error *) {
  const ProgramStatus *p = find(static_cast<BusService *>(userdata), path);
  if (!p) return -ENOENT;
  return sd_bus_message_append(reply, "u", p->kernel_id);
}

const sd_bus_vtable program_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Name", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Type", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("State", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Error", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Manifest", "s", prop_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("KernelId", "u", prop_kernel_id, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_VTABLE_END};

}  // namespace

std::string program_object_path(const std::string &name) {
  char *path = nullptr;
  if (sd_bus_path_encode(kProgramPrefix, name.c_str(), &path) < 0) return kProgramPrefix;
  std::string out(path);
  std::free(path);
  return out;
}

int register_programs(sd_bus *bus, BusService *daemon, std::vector<SlotPtr> &slots) {
  sd_bus_slot *slot = nullptr;
  int r = sd_bus_add_fallback_vtable(bus, &slot, kProgramPrefix, kProgramInterface, program_vtable, find_object, daemon);
  if (r < 0) return r;
  slots.emplace_back(slot);
  r = sd_bus_add_node_enumerator(bus, &slot, kProgramPrefix, enumerate, daemon);
  if (r < 0) return r;
  slots.emplace_back(slot);
  return 0;
}

}  // namespace bpfrec
