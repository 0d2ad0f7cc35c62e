// Registering a route once Orthanc runs (a reload that adds one).
//
// Orthanc registers a route under its routes lock, taken exclusively; each of
// its HTTP threads holds that lock shared for as long as a plugin's route runs.
// Two traps follow:
//   - the registration must not hold the GIL (a route of ours that waits for
//     it holds the lock: deadlock), hence without_gil;
//   - boost's shared_mutex lets new readers overtake a waiting writer once the
//     readers of the moment are gone (boostorg/thread#265): under steady load,
//     offloaded requests overlap and the registration waits for ever.
// So, with reload on, a request filter (the gate) can hold new requests for a
// moment: the registration closes it, waits until no route of ours runs, and
// registers while the lock is free. A held request waits at most kHoldLimit,
// so that nothing a running route waits for (an SDK call of a Dask worker
// comes over HTTP) can deadlock: that attempt then gives up, and another follows.
#include "handles.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace ort {

namespace {

constexpr auto kHoldLimit = std::chrono::seconds(2);
constexpr auto kBetweenAttempts = std::chrono::milliseconds(300);
constexpr int kAttempts = 20;

std::atomic<int> routes_running{0};
std::atomic<bool> gate_installed{false};
std::atomic<bool> gate_closed{false};  // read without the mutex on every request
std::mutex gate_mutex;
std::condition_variable gate_opened;

int32_t gate_trampoline(OrthancPluginHttpMethod, const char*, const char*, uint32_t,
                        const char* const*, const char* const*, uint32_t, const char* const*,
                        const char* const*) {
  if (gate_closed.load(std::memory_order_acquire)) {
    std::unique_lock<std::mutex> lock(gate_mutex);
    gate_opened.wait_for(lock, kHoldLimit, [] { return !gate_closed.load(); });
  }
  return 1;  // the gate only delays, it never refuses
}

void set_gate(bool closed) {
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    gate_closed.store(closed, std::memory_order_release);
  }
  if (!closed) gate_opened.notify_all();
}

// Closes the gate until no route of ours runs, then registers. False if
// routes kept running through every attempt.
bool register_when_quiet(const std::string& regex, OrthancPluginRestCallback callback) {
  for (int attempt = 0; attempt < kAttempts; attempt++) {
    set_gate(true);
    auto deadline = std::chrono::steady_clock::now() + kHoldLimit;
    while (routes_running.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (routes_running.load() == 0) {
      OrthancPluginRegisterRestCallbackNoLock(context(), regex.c_str(), callback);
      set_gate(false);
      return true;
    }
    set_gate(false);
    std::this_thread::sleep_for(kBetweenAttempts);
  }
  return false;
}

}  // namespace

RouteRunning::RouteRunning() { routes_running.fetch_add(1); }
RouteRunning::~RouteRunning() { routes_running.fetch_sub(1); }

void register_route(const std::string& regex, OrthancPluginRestCallback callback) {
  bool registered = without_gil([&] {
    if (!gate_installed.load()) {
      OrthancPluginRegisterRestCallbackNoLock(context(), regex.c_str(), callback);
      return true;
    }
    return register_when_quiet(regex, callback);
  });
  if (!registered) {
    throw std::runtime_error(
        "cannot register the route " + regex + ": the script's routes never stopped running "
        "all at once for " + std::to_string(kAttempts) + " attempts of " +
        std::to_string(kHoldLimit.count()) + " s; try again with less load");
  }
}

void forget_route_gate() {
  gate_installed.store(false);  // the next start of the plugin registers it again, if asked
  set_gate(false);
}

void init_route_gate(py::module_& m) {
  m.def("install_route_gate", [] {
    if (gate_installed.load()) return;
    check(without_gil([] {
      return OrthancPluginRegisterIncomingHttpRequestFilter2(context(), gate_trampoline);
    }));
    gate_installed.store(true);
  }, "At start, with reload on: lets a later route registration find Orthanc's routes lock "
     "free (route_gate.cpp).");
}

}  // namespace ort
