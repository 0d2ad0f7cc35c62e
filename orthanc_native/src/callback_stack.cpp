// Runs Python callbacks of a thread with a small stack on a stack of its own
// (see callback_stack.hpp for why).
#include "callback_stack.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace ort {

namespace {

std::atomic<bool> g_enabled{false};

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t own_stack_size() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  std::size_t size = 0;
  void* address = nullptr;
  if (pthread_attr_getstack(&attr, &address, &size) != 0) size = 0;
  pthread_attr_destroy(&attr);
  return size;
}

// One per thread that calls into Python: decided on its first callback.
class ThreadStack {
 public:
  ~ThreadStack() {
    if (memory_) munmap(memory_, kCallbackStackSize + page_size());
  }

  void run(void (*fn)(void*), void* arg) {
    if (!decided_) decide();
    if (!switches_ || active_ || !g_enabled.load(std::memory_order_relaxed) || !reserve()) {
      fn(arg);
      return;
    }
    fn_ = fn;
    arg_ = arg;
    ucontext_t callee = prototype_;  // a fresh copy each time: makecontext consumes it
    callee.uc_stack.ss_sp = memory_;
    callee.uc_stack.ss_size = kCallbackStackSize + page_size();
    callee.uc_link = &caller_;
    makecontext(&callee, &ThreadStack::entry, 0);
    active_ = true;
    if (swapcontext(&caller_, &callee) != 0) {
      active_ = false;
      fn(arg);  // could not switch: run where we are, as before 3.14
      return;
    }
    active_ = false;
  }

  StackRange range() const {
    if (!active_) return {nullptr, 0};
    return {static_cast<char*>(memory_) + page_size(), kCallbackStackSize};
  }

  ThreadStackInfo info() {
    if (!decided_) decide();
    return {own_size_, active_, active_ ? kCallbackStackSize : 0};
  }

 private:
  void decide() {
    decided_ = true;
    own_size_ = own_stack_size();
    switches_ = own_size_ < kRoomyStack;  // 0: unknown, take no risk
  }

  // The stack, with a guard page below it, and the context it starts from.
  bool reserve() {
    if (memory_) return true;
    if (failed_) return false;
    void* memory = mmap(nullptr, kCallbackStackSize + page_size(), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (memory == MAP_FAILED || mprotect(memory, page_size(), PROT_NONE) != 0 ||
        getcontext(&prototype_) != 0) {
      if (memory != MAP_FAILED) munmap(memory, kCallbackStackSize + page_size());
      failed_ = true;
      return false;
    }
    memory_ = memory;
    return true;
  }

  static void entry();

  bool decided_ = false;
  bool switches_ = false;
  bool active_ = false;
  bool failed_ = false;
  std::size_t own_size_ = 0;
  void* memory_ = nullptr;
  ucontext_t prototype_;
  ucontext_t caller_;
  void (*fn_)(void*) = nullptr;
  void* arg_ = nullptr;
};

thread_local ThreadStack t_stack;

void ThreadStack::entry() { t_stack.fn_(t_stack.arg_); }

}  // namespace

void enable_callback_stacks(bool enabled) { g_enabled.store(enabled); }
bool callback_stacks_enabled() { return g_enabled.load(); }

void run_on_callback_stack(void (*fn)(void*), void* arg) noexcept { t_stack.run(fn, arg); }

StackRange current_callback_stack() noexcept { return t_stack.range(); }

ThreadStackInfo thread_stack_info() noexcept { return t_stack.info(); }

}  // namespace ort
