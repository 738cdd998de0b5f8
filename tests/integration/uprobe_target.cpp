// Helper process for the uprobe tests: calls bpfrec_it_probe_target() exactly N times
// (argv[1]), so a uprobe and a uretprobe on it must count exactly N.
#include <cstdlib>

extern "C" __attribute__((noinline, used, visibility("default"))) int bpfrec_it_probe_target(int x) {
  asm volatile("" ::: "memory");  // keep the call and the function body
  return x + 1;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1;
  volatile int sum = 0;
  for (int i = 0; i < n; ++i) sum = sum + bpfrec_it_probe_target(i);
  return sum == -1 ? 1 : 0;
}
