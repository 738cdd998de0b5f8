#include "kernel/pinned_object.h"

#include <bpf/bpf.h>

#include <algorithm>

#include "kernel/fs.h"
#include "manifest/validate.h"
#include "util/unique_fd.h"

namespace bpfrec {

std::string map_pin_name(const bpf_map *m) {
  std::string name = bpf_map__name(m);
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

Result<void> fix_program_type(bpf_program *prog, ProgramType type) {
  const SectionFit fit = section_fit(bpf_program__section_name(prog), bpf_program__type(prog), type);
  if (!fit.error.empty())
    return fail(Error{EINVAL, fmt::format("bpf_function '{}' is in section \"{}\" {}", bpf_program__name(prog),
                                          bpf_program__section_name(prog), fit.error)});
  if (!fit.set_type) return {};
  if (int err = bpf_program__set_type(prog, static_cast<bpf_prog_type>(required_prog_type(type))))
    return fail_errno(-err, "set program type of {}", bpf_program__name(prog));
  if (int err = bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(fit.expected_attach_type)))
    return fail_errno(-err, "set expected attach type of {}", bpf_program__name(prog));
  return {};
}

Result<BpfObjectPtr> open_sharing_pinned_maps(const Bytecode &code, const std::string &path, const std::string &function,
                                              const std::string &dir, bpf_program **prog,
                                              std::vector<uint32_t> *map_ids) {
  BpfObjectPtr obj(open_bytecode(code, path, nullptr));
  if (!obj) return fail_errno(errno, "open {}", path);
  *prog = nullptr;
  bpf_program *p;
  bpf_object__for_each_program(p, obj.get()) {
    const bool mine = function == bpf_program__name(p);
    (void)bpf_program__set_autoload(p, mine);
    if (mine) *prog = p;
  }
  if (!*prog) return fail("{} has no program {}", path, function);
  bpf_map *m;
  bpf_object__for_each_map(m, obj.get()) {
    const std::string pin = PinLayout::map(dir, map_pin_name(m));
    UniqueFd fd(bpf_obj_get(pin.c_str()));
    if (!fd.valid()) return fail_errno(errno, "open map pin {}", pin);
    // A LIBBPF_PIN_BY_NAME map got a pin path under /sys/fs/bpf at open: libbpf would look
    // there at load, and pin our map there. It is the pinned program's map, by fd alone.
    (void)bpf_map__set_pin_path(m, nullptr);
    if (int err = bpf_map__reuse_fd(m, fd.get())) return fail_errno(-err, "reuse map {}", pin);
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (map_ids && bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0) map_ids->push_back(info.id);
  }
  return obj;
}

}  // namespace bpfrec
