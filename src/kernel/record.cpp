#include "kernel/record.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/unique_fd.h"

namespace bpfrec {

using nlohmann::json;

namespace {

// The record's "spec" is one flat object with every family's keys, as it was before
// AttachSpec::params (so that records of any version read alike): the keys of the attach
// point's family hold its values, the others the defaults they always had.
json spec_to_json(const AttachSpec &a) {
  const NetIfAttach &n = a.netif_or_none();
  const auto *x = a.get_if<XdpAttach>();
  const auto *tc = a.get_if<TcAttach>();
  const auto *tp = a.get_if<TracepointAttach>();
  const auto *u = a.get_if<UprobeAttach>();
  const auto *k = a.get_if<KprobeAttach>();
  const auto *f = a.get_if<TracingAttach>();
  const auto *cg = a.get_if<CgroupAttach>();
  const TcDirection dir = tc ? tc->direction : cg ? cg->direction : TcDirection::Ingress;
  const std::string function = u ? u->function : k ? k->function : f ? f->function : "";
  json j = {{"interface", n.interface},
            {"netns", a.netns()},
            {"priority", n.priority},
            {"proceed_on", n.proceed_on},
            {"proceed_on_explicit", n.proceed_on_explicit},
            {"mode", std::string(to_string(x ? x->mode : XdpMode::Auto))},
            {"egress", dir == TcDirection::Egress},
            {"tracepoint", tp ? tp->tracepoint : ""},
            {"target", u ? u->target : ""},
            {"function", function}};
  const std::optional<uint64_t> offset = u ? u->offset : k ? k->offset : std::nullopt;
  if (offset) j["offset"] = *offset;
  if (u && u->pid) j["pid"] = *u->pid;
  // cgroup programs (records written before they existed have neither key)
  if (cg && !cg->cgroup.empty()) j["cgroup"] = cg->cgroup, j["attach_type"] = cg->attach_type;
  if (const auto *l = a.get_if<LsmAttach>(); l && !l->hook.empty()) j["hook"] = l->hook;
  // netfilter (records written before netfilter_priority existed read as priority 0)
  if (const auto *nf = a.get_if<NetfilterAttach>(); nf && !nf->hook.empty())
    j["hook"] = nf->hook, j["netfilter_priority"] = nf->priority;
  return j;
}

// Reads the keys of `t`'s family (AttachSpec::of(t)); an unknown type (a newer daemon's) reads
// as the default alternative, like a record without params.
AttachSpec spec_from_json(const json &j, std::optional<ProgramType> t) {
  AttachSpec a = t ? AttachSpec::of(*t) : AttachSpec{};
  const auto str = [&j](const char *key) { return j.at(key).get<std::string>(); };
  const TcDirection dir = j.at("egress").get<bool>() ? TcDirection::Egress : TcDirection::Ingress;
  std::optional<uint64_t> offset;
  if (j.contains("offset")) offset = j.at("offset").get<uint64_t>();
  if (NetIfAttach *n = a.netif()) {
    n->interface = str("interface");
    n->netns = str("netns");
    n->priority = j.at("priority").get<uint32_t>();
    n->proceed_on = j.at("proceed_on").get<std::vector<std::string>>();
    n->proceed_on_explicit = j.at("proceed_on_explicit").get<bool>();
  }
  if (auto *x = a.get_if<XdpAttach>()) {
    const auto mode = str("mode");
    for (auto m : {XdpMode::Auto, XdpMode::Native, XdpMode::Skb, XdpMode::Hw})
      if (to_string(m) == mode) x->mode = m;
  }
  if (auto *tc = a.get_if<TcAttach>()) tc->direction = dir;
  if (auto *tp = a.get_if<TracepointAttach>()) tp->tracepoint = str("tracepoint");
  if (auto *u = a.get_if<UprobeAttach>()) {
    u->target = str("target");
    u->function = str("function");
    u->offset = offset;
    if (j.contains("pid")) u->pid = j.at("pid").get<int32_t>();
  }
  if (auto *k = a.get_if<KprobeAttach>()) k->function = str("function"), k->offset = offset;
  if (auto *f = a.get_if<TracingAttach>()) f->function = str("function");
  if (auto *cg = a.get_if<CgroupAttach>()) {
    cg->direction = dir;
    if (j.contains("cgroup")) cg->cgroup = str("cgroup");
    if (j.contains("attach_type")) cg->attach_type = str("attach_type");
  }
  if (auto *s = a.get_if<NetnsAttach>()) s->netns = str("netns");
  if (auto *nf = a.get_if<NetfilterAttach>()) {
    nf->netns = str("netns");
    if (j.contains("hook")) nf->hook = str("hook");
    if (j.contains("netfilter_priority")) nf->priority = j.at("netfilter_priority").get<int32_t>();
  }
  if (auto *l = a.get_if<LsmAttach>(); l && j.contains("hook")) l->hook = str("hook");
  return a;
}

}  // namespace

std::string record_to_json(const ObservedProgram &p) {
  json atts = json::object();
  for (auto &[k, a] : p.attachments) {
    atts[k] = {{"mechanism", std::string(to_string(a.mechanism))},
               {"target", a.target},
               {"netns", a.netns},
               {"ifindex", a.ifindex},
               {"xdp_flags", a.xdp_flags},
               {"egress", a.egress},
               {"tc_handle", a.tc_handle},
               {"tc_priority", a.tc_priority},
               {"resolved", a.resolved},
               {"spec", spec_to_json(a.spec)}};
  }
  json j = {{"version", 1},
            {"type", p.type},
            {"prog_id", p.prog_id},
            {"digest", p.digest},
            {"manifest_name", p.manifest_name},
            {"manifest_path", p.manifest_path},
            {"bytecode_sha256", p.bytecode_sha256},
            {"bytecode_path", p.bytecode_path},
            {"bpf_function", p.bpf_function},
            {"attachments", atts}};
  // Optional keys (records written before shared maps existed have neither).
  if (!p.shared_maps.empty()) j["shared_maps"] = p.shared_maps;
  if (!p.map_ids.empty()) j["map_ids"] = p.map_ids;
  if (!p.map_owner.empty()) j["map_owner"] = p.map_owner;
  return j.dump();
}

Result<void> record_from_json(const std::string &text, ObservedProgram &p) {
  try {
    json j = json::parse(text);
    if (j.at("version").get<int>() != 1) return fail("record version {} is not supported", j.at("version").dump());
    ObservedProgram out = p;
    out.type = j.at("type").get<std::string>();
    out.prog_id = j.at("prog_id").get<uint32_t>();
    out.digest = j.at("digest").get<std::string>();
    out.manifest_name = j.at("manifest_name").get<std::string>();
    out.manifest_path = j.at("manifest_path").get<std::string>();
    out.bytecode_sha256 = j.at("bytecode_sha256").get<std::string>();
    out.bytecode_path = j.value("bytecode_path", "");
    out.bpf_function = j.value("bpf_function", "");
    out.shared_maps = j.value("shared_maps", std::map<std::string, std::string>{});
    out.map_ids = j.value("map_ids", std::map<std::string, uint32_t>{});
    out.map_owner = j.value("map_owner", "");
    out.attachments.clear();
    for (auto &[k, v] : j.at("attachments").items()) {
      AttachRecord a;
      a.key = k;
      auto mech = v.at("mechanism").get<std::string>();
      bool known = false;
      for (auto m : kAllMechanisms)
        if (to_string(m) == mech) a.mechanism = m, known = true;
      if (!known) return fail("record names an unknown mechanism '{}'", mech);
      a.target = v.at("target").get<std::string>();
      a.netns = v.at("netns").get<std::string>();
      a.ifindex = v.at("ifindex").get<int>();
      a.xdp_flags = v.at("xdp_flags").get<uint32_t>();
      a.egress = v.at("egress").get<bool>();
      a.tc_handle = v.at("tc_handle").get<uint32_t>();
      a.tc_priority = v.at("tc_priority").get<uint32_t>();
      a.resolved = v.value("resolved", "");
      a.spec = spec_from_json(v.at("spec"), program_type_from_string(out.type));
      out.attachments.emplace(k, std::move(a));
    }
    p = std::move(out);
  } catch (const json::exception &e) {
    return fail("malformed record: {}", e.what());
  }
  return {};
}

Result<void> write_record(const ObservedProgram &p) {
  std::string text = record_to_json(p);
  if (text.size() + 1 > kRecordValueSize)
    return fail("record of program '{}' is {} bytes, more than {}: too many attach points", p.name, text.size(),
                kRecordValueSize - 1);
  const std::string pin = PinLayout::record(p.dir);
  UniqueFd fd(bpf_obj_get(pin.c_str()));
  if (!fd.valid()) {
    if (errno != ENOENT) return fail_errno(errno, "open record {}", pin);
    fd.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "bpfrec_record", sizeof(uint32_t), kRecordValueSize, 1, nullptr));
    if (!fd.valid()) return fail_errno(errno, "create record map for '{}'", p.name);
    if (bpf_obj_pin(fd.get(), pin.c_str()) != 0) return fail_errno(errno, "pin record {}", pin);
  }
  std::vector<char> value(kRecordValueSize, 0);
  std::copy(text.begin(), text.end(), value.begin());
  uint32_t key = 0;
  const bool ok = bpf_map_update_elem(fd.get(), &key, value.data(), BPF_ANY) == 0;
  const int err = errno;
  RecordCache::written(p.dir);  // also after a failed update: what the map holds is not known
  // A map update changes neither the pin's inode nor its times, and inotify does not see it:
  // stamp the pin (IN_ATTRIB, a new ctime) so that every observer, in this process or not,
  // knows the record changed (pin_journal.h). bpffs takes utimensat like any file system.
  if (::utimensat(AT_FDCWD, pin.c_str(), nullptr, 0) != 0)
    spdlog::debug("record {}: cannot stamp its times: {}", pin, std::strerror(errno));
  if (!ok) return fail_errno(err, "update record {}", pin);
  return {};
}

namespace {
Result<std::string> read_record_text(const std::string &dir) {
  const std::string pin = PinLayout::record(dir);
  UniqueFd fd(bpf_obj_get(pin.c_str()));
  if (!fd.valid()) return fail_errno(errno, "open record {}", pin);
  std::vector<char> value(kRecordValueSize);
  uint32_t key = 0;
  if (bpf_map_lookup_elem(fd.get(), &key, value.data()) != 0) return fail_errno(errno, "read record {}", pin);
  return std::string(value.data(), strnlen(value.data(), value.size()));
}
}  // namespace

namespace {
std::mutex caches_mu;
std::set<RecordCache *> &caches() {
  static std::set<RecordCache *> all;
  return all;
}
}  // namespace

RecordCache::RecordCache() {
  std::lock_guard lock(caches_mu);
  caches().insert(this);
}

RecordCache::~RecordCache() {
  std::lock_guard lock(caches_mu);
  caches().erase(this);
}

void RecordCache::written(const std::string &dir) {
  std::lock_guard lock(caches_mu);
  for (auto *c : caches()) c->mark(dir);
}

void RecordCache::mark(const std::string &dir) {
  std::lock_guard lock(mu_);
  dirty_.insert(dir);
}

Result<void> RecordCache::read(ObservedProgram &p) {
  const auto id = pin_identity(PinLayout::record(p.dir));
  bool dirty;
  {
    // Taken before the read: a write after this point marks the directory again.
    std::lock_guard lock(mu_);
    dirty = dirty_.erase(p.dir) > 0;
  }
  if (id && !dirty) {
    if (auto it = now_.find(p.dir); it != now_.end() && it->second.id == *id) {
      p = it->second.parsed;
      return {};
    }
    if (auto it = last_.find(p.dir); it != last_.end() && it->second.id == *id) {
      p = it->second.parsed;
      now_.insert_or_assign(p.dir, std::move(it->second));
      last_.erase(it);
      return {};
    }
  }
  auto text = read_record_text(p.dir);
  if (!text) return std::unexpected(text.error());
  // Cached under the identity seen before the read only if it still holds after it.
  const PinIdentity seen = id && pin_identity(PinLayout::record(p.dir)) == id ? *id : PinIdentity{};
  if (auto it = now_.find(p.dir); it != now_.end() && it->second.text == *text) {
    p = it->second.parsed;  // read before in this observation (e.g. to order TCX links)
    it->second.id = seen;
    return {};
  }
  if (auto it = last_.find(p.dir); it != last_.end() && it->second.text == *text) {
    p = it->second.parsed;
    it->second.id = seen;
    now_.insert_or_assign(p.dir, std::move(it->second));
    last_.erase(it);
    return {};
  }
  if (auto r = record_from_json(*text, p); !r) return r;
  now_.insert_or_assign(p.dir, Entry{std::move(*text), p, seen});
  return {};
}

void RecordCache::keep(const std::string &dir) {
  if (now_.contains(dir)) return;
  if (auto it = last_.find(dir); it != last_.end()) {
    now_.insert_or_assign(dir, std::move(it->second));
    last_.erase(it);
  }
}

void RecordCache::sweep() {
  last_ = std::move(now_);
  now_.clear();
  std::lock_guard lock(mu_);
  std::erase_if(dirty_, [&](const std::string &dir) { return !last_.contains(dir); });
}

}  // namespace bpfrec
