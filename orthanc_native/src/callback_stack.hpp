// The stack Python runs on when Orthanc calls the plugin.
//
// Orthanc's HTTP threads (CivetWeb's workers) have a 100 KiB stack: enough for
// Orthanc, not for Python. Up to 3.13 Python never looked at it, and a deep C
// recursion there could overflow it silently. Python 3.14 measures the real
// stack (pthread_getattr_np) and keeps 32 KiB of it in reserve, and its parser
// refuses to go on within 48 KiB of the end: a route that imports a module or
// compiles a nested expression fails with "MemoryError: Parser stack overflowed".
//
// So a thread whose stack is small runs every Python callback on a stack of its
// own, the size of an ordinary thread's (8 MiB, reserved, committed only as it
// is touched), made the first time the thread calls into Python and kept until
// the thread ends. The switch stays on the same thread (a ucontext swap, no
// hand-over to another thread): thread-local state, the GIL's thread state and
// Orthanc's view of the calling thread (its name in the log) are unchanged.
// Python 3.14 is told where that stack is (PyUnstable_ThreadState_SetStackProtection),
// so its recursion checks measure the stack it really runs on. A thread with a
// large stack (Orthanc's main thread, its job and DICOM threads, a thread made
// by Python) runs callbacks where it is. The choice is made once per thread.
#pragma once

#include <cstddef>
#include <type_traits>

namespace ort {

// A stack smaller than this does not get Python callbacks run on it.
constexpr std::size_t kRoomyStack = 1024 * 1024;
// The size of the stack a thread with a small one gets for its callbacks.
constexpr std::size_t kCallbackStackSize = 8 * 1024 * 1024;

// Whether threads with a small stack switch to a stack of their own. Off until
// the interpreter says Python can be told about the new stack (interpreter.cpp).
void enable_callback_stacks(bool enabled);
bool callback_stacks_enabled();

// Runs fn(arg) on a stack with room for Python: this thread's own if it is roomy
// (or if fn runs already on the callback stack: a callback nested in an SDK call),
// else the callback stack. fn must not throw.
void run_on_callback_stack(void (*fn)(void*), void* arg) noexcept;

// The usable part of the callback stack fn runs on now (lowest address, size),
// or {nullptr, 0} when it runs on the thread's own stack.
struct StackRange {
  void* lowest;
  std::size_t size;
};
StackRange current_callback_stack() noexcept;

// What a test or a log reports about the calling thread.
struct ThreadStackInfo {
  std::size_t thread_stack_size;  // 0 if the system could not say
  bool on_callback_stack;
  std::size_t callback_stack_size;
};
ThreadStackInfo thread_stack_info() noexcept;

template <typename Body>
void on_callback_stack(Body&& body) noexcept {
  using Fn = std::remove_reference_t<Body>;
  auto call = [](void* p) { (*static_cast<Fn*>(p))(); };
  run_on_callback_stack(call, static_cast<void*>(&body));
}

}  // namespace ort
