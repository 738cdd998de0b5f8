// One attacher per attach mechanism (Mechanism in reconcile/state.h): how a loaded program is
// attached at a hook, moved to another load of the same program (swap), detached, and checked
// at each observation. LibbpfKernel (kernel/libbpf_kernel.cpp) chooses the mechanism of a new
// attachment and routes every later step by the mechanism its record names (Attachers). The
// model is bpftrace's one Attached*Probe class per probe kind.
//
//   xdp.cpp             Xdp            the program alone on an interface's XDP hook
//   xdp_dispatcher.cpp  XdpDispatcher  a component of libxdp's multi-program dispatcher
//   tc.cpp              Tc             clsact + one cls_bpf direct-action filter per program
//   tcx.cpp             Tcx            a TCX link, ordered among ours by priority
//   tc_dispatcher.cpp   TcDispatcher   a slot of our TC dispatcher (cls_bpf + freplace)
//   perf_link.cpp       PerfLink       tracepoint, uprobe and kprobe perf links
//   link.cpp            Link           the other pinned bpf_links: tracing (fentry, fexit, lsm),
//                                      raw tracepoint, cgroup, netns (sk_lookup), netfilter
//
// Every attacher takes what it needs from the pins, the record and the hook index, never from
// daemon memory alone, so that a restarted daemon can undo what an earlier one did.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>

#include "kernel/fs.h"
#include "manifest/manifest.h"
#include "reconcile/state.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace bpfrec {

class BytecodeStore;
class HookIndex;
class PinCache;
class XdpHookCache;

/// What the attachers share with the kernel object that routes to them; the references live
/// as long as it does.
struct AttachContext {
  const PinLayout &pins;
  /// Our attachments by hook, as the records say (hook_index.h). Read it through index():
  /// built by the last observation, or from every record when there was none yet.
  std::function<HookIndex &()> index;
  BytecodeStore &bytecode;  ///< the bytes every pinned program was loaded from, by digest
  PinCache &pins_seen;      ///< pin identities -> ids, for the checks of an observation
  /// Writes `p`'s record and puts it in the hook index (every record write goes through it).
  std::function<Result<void>(const ObservedProgram &)> write;
};

/// A new attachment of `prog` at `a`.
struct AttachRequest {
  ObservedProgram &prog;  ///< the loaded program; the caller records the attachment
  const ProgramSpec &spec;
  const AttachSpec &a;
  std::string key;       ///< attach_key(spec.type, a)
  int prog_fd = -1;      ///< the program, open (open_prog())
  std::string link_pin;  ///< PinLayout::link(prog.dir, key), a stale pin there removed
  std::string why;       ///< Xdp: why no dispatcher is used, for the error when the hook is taken
};

/// Attachment `key` moving from `from` to `to` (another load of the same program name). The
/// caller has copied `rec` into to.attachments[key] and written `to`'s record (the intent).
struct SwapRequest {
  ObservedProgram &from, &to;
  const ProgramSpec &spec;
  const AttachSpec &a;  ///< the attach point as the manifest now says it
  std::string key;
  const AttachRecord &rec;  ///< from's record of `key`
  int old_fd = -1, new_fd = -1;
};

/// Which field of the record the live id of a check replaces in the observed state.
enum class LiveId { None, Link, Program };

/// What an observation's check of one recorded attachment found.
struct Check {
  bool ok = false;       ///< still in place
  uint32_t live_id = 0;  ///< what runs there (a link id or a component's program id, see `live`)
  LiveId live = LiveId::None;
  bool operator==(const Check &) const = default;
};

/// Puts what check `c` found running in `r` (link_id or prog_id, by c.live).
void show_live(const Check &c, AttachRecord &r);

/// The pinned program of `prog`, or (pin removed by hand) the program by its recorded id.
/// Errors: neither can be opened (errno).
Result<UniqueFd> open_prog(const ObservedProgram &prog);

/// One attach mechanism. Every operation works on the kernel only: the caller keeps the
/// records (AttachContext::write) except where a doc comment says otherwise.
class Attacher {
 public:
  virtual ~Attacher() = default;

  /// The mechanism this attacher handles; records of it are routed here.
  virtual Mechanism mechanism() const = 0;

  /// Whether swap() moves an attachment of a program of type `t` in place, the hook never empty
  /// and never running both; false: the caller attaches the new program, then detaches the old
  /// (both run for a moment rather than neither), and swap() is not called.
  virtual bool swaps_in_place(ProgramType t) const = 0;

  /// Attaches `r.prog` at `r.a`. Returns the record (mechanism, target, ids; the caller sets key
  /// and spec). Errors: the mechanism's, naming the attach point.
  virtual Result<AttachRecord> attach(AttachContext &ctx, const AttachRequest &r) = 0;

  /// Moves the attachment in place (only where swaps_in_place()). Returns true when it changed
  /// r.to.attachments[r.key] (the caller writes that record again). On failure the kernel is
  /// left as it was. Default: EOPNOTSUPP.
  virtual Result<bool> swap(AttachContext &ctx, const SwapRequest &r);

  /// Detaches recorded attachment `rec` of `prog` (the record is the caller's to update); an
  /// attachment already gone (interface deleted, detached by hand) is not an error.
  virtual Result<void> detach(AttachContext &ctx, const ObservedProgram &prog, const AttachRecord &rec) = 0;

  /// The check an observation makes of recorded attachment `a` of `p`: whether it still runs
  /// `p`, and what runs there. `xdp_hooks`: this observation's look at the XDP hooks.
  /// `trusted`: the journal vouches that p's pins are the ones last read (pin_journal.h).
  virtual Check in_place(AttachContext &ctx, const ObservedProgram &p, const AttachRecord &a, XdpHookCache &xdp_hooks,
                         bool trusted) = 0;
};

std::unique_ptr<Attacher> make_xdp_attacher();
std::unique_ptr<Attacher> make_xdp_dispatcher_attacher();
std::unique_ptr<Attacher> make_tc_attacher();
std::unique_ptr<Attacher> make_tcx_attacher();
std::unique_ptr<Attacher> make_tc_dispatcher_attacher();
std::unique_ptr<Attacher> make_perf_link_attacher();
std::unique_ptr<Attacher> make_link_attacher();

/// One attacher per Mechanism, looked up by the mechanism a record names.
class Attachers {
 public:
  Attachers();
  /// The attacher of `m`.
  Attacher &attacher_for(Mechanism m) const;

 private:
  std::array<std::unique_ptr<Attacher>, std::size(kAllMechanisms)> by_mechanism_;
};

/// The swap and detach of a mechanism whose attachment is one bpf_link pinned at
/// PinLayout::link(dir, key) that BPF_LINK_UPDATE can repoint (Tcx, Link): swap_pinned_link()
/// and detach_pinned_link(). The subclass gives mechanism, swaps_in_place, attach and in_place.
class PinnedLinkAttacher : public Attacher {
 public:
  Result<bool> swap(AttachContext &ctx, const SwapRequest &r) override;
  Result<void> detach(AttachContext &ctx, const ObservedProgram &prog, const AttachRecord &rec) override;
};

/// Tcx and Link swap: BPF_LINK_UPDATE points the link pinned under `from_dir` at `new_fd` (same
/// link id, no gap), then the pin moves to `to_dir`; a failed move points the link back at
/// `old_fd`. Errors: the link cannot be opened or updated; the rename fails.
Result<void> swap_pinned_link(const std::string &from_dir, const std::string &to_dir, const std::string &key,
                              int old_fd, int new_fd);

}  // namespace bpfrec
