// What a BPF object file offers, read with libbpf without loading anything (no root needed).
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "manifest/bytecode.h"
#include "util/result.h"

namespace bpfrec {

/// bpf_object owns its programs, maps, BTF and their fds; closing it frees them all (after the
/// caller pinned whatever must outlive it).
struct BpfObjectCloser {
  void operator()(bpf_object *o) const { bpf_object__close(o); }
};
using BpfObjectPtr = std::unique_ptr<bpf_object, BpfObjectCloser>;

/// One program of an object: its function name, ELF section and the program type libbpf
/// derives from the section (a raw `enum bpf_prog_type` value).
struct ObjectProgram {
  std::string function;
  std::string section;
  uint32_t prog_type = 0;
};

/// One global variable in .rodata or .data, from the object's BTF DATASEC.
struct ObjectGlobal {
  std::string name;
  std::string section;  // ".rodata" or ".data" (libbpf may suffix: ".rodata.str1.1" is skipped)
  uint32_t size = 0;    // bytes
  bool is_int = false;  // a BTF_KIND_INT (through typedefs/const/volatile)
  bool is_signed = false;
};

struct ObjectInfo {
  std::vector<ObjectProgram> programs;
  std::vector<ObjectGlobal> globals;
  std::vector<std::string> maps;  // every map, as libbpf names them
};

/// Opens `code` (read from `path`, which names it in messages and the object) with
/// open_bytecode() and lists programs, globals and maps.
/// Errors: not a BPF ELF object (message names the path and libbpf's reason).
Result<ObjectInfo> inspect_object(const Bytecode &code, const std::string &path);

/// Name of a program type for messages, e.g. "xdp", "sched_cls" (libbpf_bpf_prog_type_str()).
std::string prog_type_name(uint32_t prog_type);

}  // namespace bpfrec
