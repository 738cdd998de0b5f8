// Integration-test harness for bpfman-reconciler.
//
// The suite drives the real daemon binary from the outside: it writes manifests into a
// programs.d directory, talks to the daemon over a private D-Bus system bus with `busctl`, and
// checks the kernel with `bpftool`, `tc`, `ip` and raw bpf(2) queries. It never links the
// project's own libraries, and it never trusts the daemon's status for "is it attached".
//
// Isolation: main() moves the whole test process into a private mount namespace with a fresh
// bpffs on /sys/fs/bpf, tracefs on /sys/kernel/tracing and a tmpfs on /run/netns. Every daemon,
// bus and netns the tests make lives in (and dies with) that namespace; every child gets
// PR_SET_PDEATHSIG(SIGKILL) so a crashed test run leaves nothing behind.
//
// This header only gathers the parts in harness/, one concern each.
#pragma once

#include "harness/common.h"        // json, chrono literals
#include "harness/env.h"           // process-wide set-up, skip/fatal reasons, unique names
#include "harness/process.h"       // run(), run_in_netns(), wait_until(), BackgroundCommand
#include "harness/files.h"         // reading, listing, atomic writes, temp dirs
#include "harness/kernel_tools.h"  // kernel checks through bpftool and tc
#include "harness/kernel_view.h"   // raw bpf(2) and rtnetlink views (RawProg, RawLink, hooks)
#include "harness/netns.h"         // NetnsPair, add_veth()
#include "harness/bus.h"           // a private dbus-daemon, ScopedBusAddress
#include "harness/daemon_api.h"    // the daemon's D-Bus API through busctl
#include "harness/objects.h"       // built BPF objects, renamed copies
#include "harness/manifests.h"     // manifest texts
#include "harness/daemon.h"        // the daemon as a child process
#include "harness/fixture.h"       // ReconcilerTest
#include "harness/hook_sampler.h"  // sampling XDP/TCX hooks on a thread
#include "harness/pin_audit.h"     // check_pin_root_exact()
#include "harness/notify.h"        // NotifySocket (sd_notify)
#include "harness/foreign.h"       // ForeignTcx
#include "harness/registry.h"      // docker-registry, skopeo push, SilentListener
