// The real kernel: LibbpfKernel (libbpf, libxdp, raw bpf(2) where libbpf 1.1.2 is too old) behind
// the Kernel port that reconcile owns (reconcile/kernel_port.h), and how it picks mechanisms.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "reconcile/kernel_port.h"
#include "util/result.h"

namespace bpfrec {

/// How TC attach points are attached: `Auto` uses TCX where the kernel has it (6.6+), else the
/// TC dispatcher where freplace works, else clsact + one cls_bpf filter per program; the others
/// force one mechanism (Dispatcher fails where freplace is refused).
enum class TcMechanism { Auto, Tcx, Tc, Dispatcher };

/// How XDP attach points are attached: `Auto` uses libxdp's multi-program dispatcher where the
/// kernel allows freplace (probe_freplace()) and the program alone on the hook elsewhere;
/// `Dispatcher` and `Single` force one (Single: one program per interface, no priorities).
enum class XdpMechanism { Auto, Dispatcher, Single };

class ObjectStore;

/// The real kernel. `pin_root` must be on a bpffs (see ensure_pin_root()). `objects`: the state
/// directory's object store, where every loaded program's bytes are kept and found again
/// (store/object_store.h); null: in memory only (the CLI, tests). It must outlive the kernel.
std::unique_ptr<Kernel> make_libbpf_kernel(const std::string &pin_root, TcMechanism tc = TcMechanism::Auto,
                                           XdpMechanism xdp = XdpMechanism::Auto, ObjectStore *objects = nullptr);

/// Routes libbpf's and libxdp's log to spdlog (debug level) and keeps the last lines for error
/// messages. Call once at start-up.
void install_libbpf_logging();

}  // namespace bpfrec
