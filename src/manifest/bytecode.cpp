#include "manifest/bytecode.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "util/sha256.h"
#include "util/unique_fd.h"

namespace bpfrec {

bpf_object *open_bytecode(const Bytecode &code, const std::string &path, const bpf_object_open_opts *opts) {
  // libbpf 1.1, bpf_object__new(): a file's object is named after its base name, cut at the first '.'.
  std::string name = std::filesystem::path(path).filename().string();
  if (auto dot = name.find('.'); dot != std::string::npos) name.resize(dot);
  bpf_object_open_opts o{};
  o.sz = sizeof o;
  if (opts) o = *opts;
  o.object_name = name.c_str();  // copied by libbpf
  if (!code.bytes) {
    errno = EINVAL;
    return nullptr;
  }
  return bpf_object__open_mem(code.bytes->data(), code.bytes->size(), &o);
}

}  // namespace bpfrec
