// Loading one program into its pin directory (LibbpfKernel::load()).
#pragma once

#include <functional>
#include <string>

#include "kernel/fs.h"
#include "kernel/record.h"
#include "load/files.h"
#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"

namespace bpfrec {

/// What a load reads and writes besides the object: the pin layout (map group directories, a
/// map owner's directory), the record cache (the map owner's record), the bytes of every pinned
/// program (kept for their later loads: dispatcher components) and the record writer.
struct LoadContext {
  const PinLayout &pins;
  RecordCache &records;
  BytecodeStore &bytecode;
  std::function<Result<void>(const ObservedProgram &)> write;  ///< writes a record (and indexes it)
};

/// Loads `spec`'s bpf_function (only that program of its object) with its global_data into
/// directory `dir`: probes the type first, removes what `dir` held, shares the map group's
/// LIBBPF_PIN_BY_NAME maps or reuses the map owner's maps (errors positioned at map_group or
/// map_owner name what differs), loads (fentry/fexit/lsm against their BTF target), pins the
/// program and every map, writes the record. Returns the program as observed. On failure `dir`
/// may be half-pinned: the caller removes it. Errors carry libbpf's last log lines (verifier).
Result<ObservedProgram> load_program(const ProgramSpec &spec, const std::string &dir, const LoadContext &ctx);

}  // namespace bpfrec
