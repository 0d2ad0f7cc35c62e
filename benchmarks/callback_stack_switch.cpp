// What running a callback on the callback stack costs (orthanc_native/src/callback_stack.hpp):
// the same empty callback called directly and through run_on_callback_stack, on a thread
// with Orthanc's HTTP-thread stack (100 KiB), which switches, and on an 8 MiB one, which
// does not. Build and run:
//   g++ -O2 -std=c++17 -Iorthanc_native/src benchmarks/callback_stack_switch.cpp \
//       orthanc_native/src/callback_stack.cpp -o /tmp/callback_stack_switch -lpthread
//   /tmp/callback_stack_switch
#include "callback_stack.hpp"

#include <pthread.h>

#include <chrono>
#include <cstdio>

namespace {

constexpr int kCalls = 1000000;
volatile long g_sink = 0;

void empty(void*) { g_sink = g_sink + 1; }

double nanoseconds_per_call(bool through_stack) {
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; i++) {
    if (through_stack) {
      ort::run_on_callback_stack(&empty, nullptr);
    } else {
      empty(nullptr);
    }
  }
  std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - started;
  return took.count() / kCalls;
}

void* measure(void* name) {
  ort::run_on_callback_stack(&empty, nullptr);  // the first call decides and reserves
  double direct = nanoseconds_per_call(false);
  double through = nanoseconds_per_call(true);
  bool switched = false;
  ort::on_callback_stack([&]() noexcept { switched = ort::thread_stack_info().on_callback_stack; });
  std::printf("%-28s switches: %-3s direct %6.1f ns/call, through run_on_callback_stack %6.1f ns/call"
              " (+%.1f ns)\n", static_cast<const char*>(name), switched ? "yes" : "no", direct,
              through, through - direct);
  return nullptr;
}

void run_on_thread(std::size_t stack_size, const char* name) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_size);
  pthread_t thread;
  pthread_create(&thread, &attr, &measure, const_cast<char*>(name));
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

}  // namespace

int main() {
  ort::enable_callback_stacks(true);
  for (int round = 0; round < 3; round++) {
    run_on_thread(100 * 1024, "100 KiB thread (HTTP)");
    run_on_thread(8 * 1024 * 1024, "8 MiB thread (jobs, main)");
  }
  return 0;
}
