// tests/abi: calls what the portable build's pins in src/util/rhel9_abi.h are for, so that the
// abi suite can check the floor of a binary that really binds them: std::condition_variable::
// wait(unique_lock&) and, compiled with _GLIBCXX_ASSERTIONS, libstdc++'s assertion handler.
// Built twice (tests/abi/meson.build): with the pins (must be within the floor and work) and
// without (the control: must bind both at GLIBCXX_3.4.30, or the pins prove nothing).
// usage: shim-probe            waits on a condition variable that another thread notifies; 0
//        shim-probe assert     fails a libstdc++ assertion (vector index out of range): aborts
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

int main(int argc, char **argv) {
  if (argc > 1 && std::strcmp(argv[1], "assert") == 0) {
    std::vector<int> v(static_cast<size_t>(argc));  // the size is not known at compile time
    std::printf("%d\n", v[static_cast<size_t>(argc) + 1]);  // _GLIBCXX_ASSERTIONS: aborts
    return 0;
  }
  std::mutex m;
  std::condition_variable cv;
  bool ready = false;
  std::thread t([&] {
    std::lock_guard<std::mutex> g(m);
    ready = true;
    cv.notify_one();
  });
  {
    std::unique_lock<std::mutex> lock(m);
    while (!ready) cv.wait(lock);  // the overload that g++ 12 binds at GLIBCXX_3.4.30
  }
  t.join();
  std::puts("woken");
  return 0;
}
