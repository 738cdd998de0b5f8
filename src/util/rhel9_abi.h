// The portable build's symbol-version pins (issue 13): forced into every translation unit of a
// -Dportable=true build (-include, meson.build), nowhere else. Debian 12's g++ 12 binds a few
// libstdc++ functions at GLIBCXX_3.4.30, above RHEL 9's floor (gcc 11: GLIBCXX_3.4.29); where
// libstdc++.so.6 keeps the older version of the same function with the same ABI, a reference
// is pinned to it here, so the dynamic libstdc++ of RHEL 9 resolves it. tests/abi/shim_probe.cpp
// calls each one and the abi suite checks its floor. Why libstdc++ stays dynamic at all:
// -static-libstdc++ would bind arc4random@GLIBC_2.36 (libstdc++.a's random.o) and
// -static-libgcc _dl_find_object@GLIBC_2.35, both above GLIBC_2.34; the dynamic ones bind
// nothing above their floor once these pins are in.
#pragma once

#if defined(__cplusplus) && defined(__x86_64__)
// std::condition_variable::wait(std::unique_lock<std::mutex>&): libstdc++ 12 exports it at
// GLIBCXX_3.4.30 (the default, no longer noexcept, so that a pthread cancellation inside
// pthread_cond_wait can unwind) and keeps GLIBCXX_3.4.11 (noexcept: a cancellation there
// terminates). Same signature and calling convention; nothing in this project cancels threads.
// So every reference binds the old one, which RHEL 9's libstdc++ has.
__asm__(".symver _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE,"
        "_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE@GLIBCXX_3.4.11");
#endif
// std::__glibcxx_assert_fail (what _GLIBCXX_ASSERTIONS' checks call since gcc 12, at
// GLIBCXX_3.4.30, with no older version): defined in the binary itself (rhel9_abi.cpp),
// so the link never imports it.
