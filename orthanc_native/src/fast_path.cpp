// The fast path of offloaded routes: Orthanc's HTTP thread -> a worker's pipe -> Orthanc,
// without the master's GIL when the handler makes no SDK call.
//
//   Orthanc HTTP thread (slot callback N)         IdleSet (shared with pool.Pool, Python side)
//   -------------------------------------         --------------------------------------------
//   slot N's entry for the method?  no -> rest_trampoline (the Python path)
//   lease()  <-------------------------------     idle workers: (serial, fd) pushed by the pool
//     none idle, the line is full, the pool
//     closes                        -> rest_trampoline (it answers 503 or queues)
//   the request id: the client's X-Request-Id if short and printable, else a new one
//   (runtime/context.py's format: a prefix of this process, a counter)
//   write the request frame (fastwire) ====> worker (runtime.worker.fast)
//   poll the pipe until the deadline
//     raw answer frame      -> give the worker back, execute its write plan: no GIL
//     a pickled message     -> with the GIL: on_frame(output, serial, ...) serves an SDK call
//                              (kWaitOn) or writes the final answer (kDone, kFailed)
//     EOF, error            -> with the GIL: on_failure(..., "dead") answers 502
//     nothing by the deadline -> with the GIL: on_failure(..., "timeout") answers 504
//   give_back(): to the idle set, or (Python callers wait, the pool closes) lease_ended()
//   every answer from a worker is counted (done or failed) with its latency, from asking
//   for a worker to the answer, for the pool's status (take_latencies); and under its
//   handler's key (Entry.key) into fixed latency buckets, and under its worker's serial,
//   taken in batches when the status or the metrics are read (take_key_stats,
//   take_tasks_by_serial): never a Python call per request
//
// Orthanc's REST callback gets no user pointer: a fixed table of kSlots callbacks,
// one per registered route regex, each knowing its slot. The frame format is
// runtime/backends/fastwire.py's; both sides change together.
#include "native.hpp"

#include <pybind11/stl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ort {

namespace {

constexpr std::size_t kSlots = 256;
constexpr std::size_t kLargeRequest = 1 << 20;  // larger bodies take the shared-memory route
constexpr uint32_t kRawFlag = 0x80000000u;       // pool.channel: a raw frame's length word
constexpr std::size_t kLatencyWindow = 1024;     // pool.stats.LATENCY_WINDOW

// What on_frame (runtime.backends.fast_lane) says of a pickled message.
constexpr int kWaitOn = 0;  // an SDK call, served: the answer is still to come
constexpr int kDone = 1;    // the handler's answer, written
constexpr int kFailed = 2;  // the handler raised; its error answer is written

using Clock = std::chrono::steady_clock;

// One offloaded handler of a route: what its frames carry, its time limit, and the key its
// answers are counted under (runtime.handler_stats; -1: not counted).
struct Entry {
  std::string descriptor;
  double timeout = 30.0;
  int key = -1;
};

// What the answers of one handler key came to since the last take_key_stats.
struct KeyStats {
  long long requests = 0;
  long long errors = 0;
  double seconds = 0.0;
  std::vector<long long> buckets;  // one per bound, and one past the last
};

struct Slot {
  std::string regex;
  std::unordered_map<std::string, Entry> methods;
};

std::shared_mutex slots_mutex;
std::array<Slot, kSlots> slots;
std::size_t slots_used = 0;

struct Lease {
  int serial = -1;
  int fd = -1;
};

// The idle workers, shared by the pool (Python, under its lock) and the HTTP threads.
class IdleSet {
 public:
  IdleSet(py::object on_frame, py::object on_failure, py::object lease_ended, int queue_limit,
          std::vector<double> bounds)
      : on_frame_(std::move(on_frame)),
        on_failure_(std::move(on_failure)),
        lease_ended_(std::move(lease_ended)),
        queue_limit_(queue_limit),
        bounds_(std::move(bounds)) {}

  ~IdleSet() {
    // The last reference may go on an HTTP thread: the hooks are released with the GIL.
    if (python_alive() && Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      on_frame_ = py::object();
      on_failure_ = py::object();
      lease_ended_ = py::object();
    } else {
      on_frame_.release();
      on_failure_.release();
      lease_ended_.release();
    }
  }

  // -- the pool's side (Python, with the GIL, under the pool's lock) --

  void push(int serial, int fd) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.push_back({serial, fd});
    }
    available_.notify_one();
  }

  // A worker's serial, or -1; then `waiting` Python callers wait for one (atomically with
  // the look, so that a worker given back meanwhile goes to them).
  int take(int waiting) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) {
      py_waiting_ = waiting;
      return -1;
    }
    Lease found = idle_.back();
    idle_.pop_back();
    return found.serial;
  }

  void set_waiting(int waiting) {
    std::lock_guard<std::mutex> lock(mutex_);
    py_waiting_ = waiting;
  }

  bool discard(int serial) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->serial == serial) {
        idle_.erase(it);
        return true;
      }
    }
    return false;
  }

  std::vector<int> serials() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<int> found;
    for (const auto& each : idle_) found.push_back(each.serial);
    return found;
  }

  std::vector<int> drain() {
    std::vector<int> found;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
      for (const auto& each : idle_) found.push_back(each.serial);
      idle_.clear();
    }
    available_.notify_all();
    return found;
  }

  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return idle_.size();
  }

  int native_waiting() {
    std::lock_guard<std::mutex> lock(mutex_);
    return native_waiting_;
  }

  int leased() { return leased_.load(); }

  // Answers from leased workers so far: (done, failed).
  std::pair<long long, long long> answered() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {done_, failed_};
  }

  // The latencies (seconds) of the answers since the last call, at most kLatencyWindow.
  std::vector<double> take_latencies() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<double> taken(latencies_.begin(), latencies_.end());
    latencies_.clear();
    return taken;
  }

  // Per handler key, what was counted since the last call: [(key, requests, errors, seconds,
  // [bucket counts])], keys with nothing new left out.
  py::list take_key_stats() {
    std::vector<std::pair<int, KeyStats>> taken;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (std::size_t key = 0; key < keys_.size(); key++) {
        if (keys_[key].requests == 0) continue;
        KeyStats fresh;
        fresh.buckets.assign(keys_[key].buckets.size(), 0);
        taken.emplace_back(static_cast<int>(key), std::exchange(keys_[key], std::move(fresh)));
      }
    }
    py::list out;
    for (auto& [key, stats] : taken) {
      out.append(py::make_tuple(key, stats.requests, stats.errors, stats.seconds,
                                py::cast(stats.buckets)));
    }
    return out;
  }

  // Answers per worker serial since the last call.
  std::unordered_map<int, long long> take_tasks_by_serial() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(by_serial_, {});
  }

  // -- the HTTP threads' side (no GIL) --

  // An idle worker, waiting at most `seconds` for one while the line has room.
  bool lease(double seconds, Lease& out) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) return false;
    if (idle_.empty()) {
      if (native_waiting_ + py_waiting_ >= queue_limit_) return false;  // Python answers 503
      native_waiting_++;
      auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
      available_.wait_until(lock, until, [&] { return closed_ || !idle_.empty(); });
      native_waiting_--;
      if (closed_ || idle_.empty()) return false;
    }
    out = idle_.back();
    idle_.pop_back();
    leased_++;
    return true;
  }

  // Counts the lease's answer, then gives the worker back to the idle set, or returns
  // false: the pool takes it (lease_ended) since Python callers wait for one or it closes.
  bool give_back(const Lease& lease, double seconds, bool failed, int key) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      count(seconds, failed);
      count_key(key, seconds, failed);
      by_serial_[lease.serial]++;
      if (closed_ || py_waiting_ > 0) return false;
      idle_.push_back(lease);
      leased_--;
    }
    available_.notify_one();
    return true;
  }

  void lease_done() { leased_--; }

  // A request whose worker failed (died, overran, broken): an error of its handler. The pool
  // counts the worker's end itself (Pool.lease_failed).
  void count_failure(int key, double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    count_key(key, seconds, true);
  }

  py::object on_frame_;
  py::object on_failure_;
  py::object lease_ended_;

 private:
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Lease> idle_;
  bool closed_ = false;
  int py_waiting_ = 0;
  int native_waiting_ = 0;
  const int queue_limit_;
  std::atomic<int> leased_{0};
  long long done_ = 0;  // these five under mutex_
  long long failed_ = 0;
  std::deque<double> latencies_;
  std::vector<KeyStats> keys_;  // by handler key; grows when a key is first counted
  std::unordered_map<int, long long> by_serial_;
  const std::vector<double> bounds_;

  void count_key(int key, double seconds, bool failed) {
    if (key < 0 || bounds_.empty()) return;
    if (static_cast<std::size_t>(key) >= keys_.size()) keys_.resize(key + 1);
    KeyStats& stats = keys_[key];
    if (stats.buckets.empty()) stats.buckets.assign(bounds_.size() + 1, 0);
    stats.requests++;
    stats.errors += failed;
    stats.seconds += seconds;
    // As Python's bisect_left: the first bound at or above the latency.
    stats.buckets[std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin()]++;
  }

  void count(double seconds, bool failed) {
    (failed ? failed_ : done_)++;
    if (latencies_.size() == kLatencyWindow) latencies_.pop_front();
    latencies_.push_back(seconds);
  }
};

std::mutex current_mutex;
std::shared_ptr<IdleSet> current_set;

std::shared_ptr<IdleSet> current() {
  std::lock_guard<std::mutex> lock(current_mutex);
  return current_set;
}

// -- the frames (runtime/backends/fastwire.py) --

void put_u32(std::string& out, uint32_t value) {
  uint32_t be = htonl(value);
  out.append(reinterpret_cast<const char*>(&be), 4);
}

void put_bytes(std::string& out, const char* data, std::size_t size) {
  put_u32(out, static_cast<uint32_t>(size));
  out.append(data, size);
}

void put_text(std::string& out, const char* text) {
  put_bytes(out, text ? text : "", text ? std::strlen(text) : 0);
}

// -- request ids (runtime/context.py: the same rules) --

constexpr std::size_t kMaxRequestId = 64;

std::string id_prefix() {
  std::random_device device;
  char text[8];
  std::snprintf(text, sizeof(text), "%04x", static_cast<unsigned>(device() & 0xffff));
  return text;
}

const std::string& request_id_prefix() {
  static const std::string* prefix = new std::string(id_prefix());
  return *prefix;
}

std::atomic<unsigned long long> request_counter{0};

bool acceptable_id(const char* value) {
  std::size_t size = 0;
  for (; value[size] != '\0'; size++) {
    if (size == kMaxRequestId) return false;
    unsigned char c = static_cast<unsigned char>(value[size]);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return size > 0;
}

// The client's X-Request-Id when acceptable, else a new id.
std::string request_id_of(const OrthancPluginHttpRequest* request) {
  for (uint32_t i = 0; i < request->headersCount; i++) {
    if (strcasecmp(request->headersKeys[i], "x-request-id") == 0) {
      if (acceptable_id(request->headersValues[i])) return request->headersValues[i];
      break;
    }
  }
  return request_id_prefix() + "-" + std::to_string(++request_counter);
}

std::string request_frame(const Entry& entry, const char* url,
                          const OrthancPluginHttpRequest* request, const std::string& request_id) {
  std::string out;
  out.reserve(256 + request->bodySize);
  put_u32(out, 0);  // the length word, written last
  put_bytes(out, entry.descriptor.data(), entry.descriptor.size());
  put_text(out, method_name(request->method));
  put_text(out, url);
  put_bytes(out, request_id.data(), request_id.size());
  put_u32(out, request->groupsCount);
  for (uint32_t i = 0; i < request->groupsCount; i++) put_text(out, request->groups[i]);
  put_u32(out, request->headersCount);
  for (uint32_t i = 0; i < request->headersCount; i++) {
    put_text(out, request->headersKeys[i]);
    put_text(out, request->headersValues[i]);
  }
  bool get = request->method == OrthancPluginHttpMethod_Get;
  put_u32(out, get ? request->getCount : 0);
  for (uint32_t i = 0; get && i < request->getCount; i++) {
    put_text(out, request->getKeys[i]);
    put_text(out, request->getValues[i]);
  }
  bool body = carries_body(request);
  put_bytes(out, body ? static_cast<const char*>(request->body) : "",
            body ? request->bodySize : 0);
  uint32_t word = htonl(kRawFlag | static_cast<uint32_t>(out.size() - 4));
  std::memcpy(&out[0], &word, 4);
  return out;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// A worker's answer frame, read without Python.
class Reader {
 public:
  explicit Reader(const std::string& data) : data_(data) {}
  uint32_t u32() {
    need(4);
    uint32_t be;
    std::memcpy(&be, data_.data() + at_, 4);
    at_ += 4;
    return ntohl(be);
  }
  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(data_[at_++]);
  }
  std::pair<const char*, std::size_t> bytes() {
    std::size_t size = u32();
    need(size);
    const char* start = data_.data() + at_;
    at_ += size;
    return {start, size};
  }
  std::string text() {
    auto found = bytes();
    return std::string(found.first, found.second);
  }

 private:
  void need(std::size_t size) {
    if (at_ + size > data_.size()) throw std::runtime_error("a fast answer frame is cut short");
  }
  const std::string& data_;
  std::size_t at_ = 0;
};

// The write plans of runtime/backends/fastwire.py (PLAN_*).
enum Plan : uint8_t { kAnswer = 0, kStatus = 1, kNoBody = 2, kNotAllowed = 3, kUnauthorized = 4,
                      kRedirect = 5 };

void execute_plan(OrthancPluginRestOutput* output, const std::string& payload) {
  Reader reader(payload);
  uint16_t status = static_cast<uint16_t>(reader.u32());
  uint8_t plan = reader.u8();
  std::string content_type = reader.text();
  std::string extra = reader.text();
  uint32_t headers = reader.u32();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (uint32_t i = 0; i < headers; i++) {
    std::string key = reader.text();
    pairs.emplace_back(key, reader.text());
  }
  auto body = reader.bytes();
  OrthancPluginContext* ctx = context();
  for (const auto& pair : pairs) {
    OrthancPluginSetHttpHeader(ctx, output, pair.first.c_str(), pair.second.c_str());
  }
  switch (plan) {
    case kAnswer:
      OrthancPluginAnswerBuffer(ctx, output, body.first, static_cast<uint32_t>(body.second),
                                content_type.c_str());
      break;
    case kStatus:
      OrthancPluginSetHttpHeader(ctx, output, "Content-Type", content_type.c_str());
      OrthancPluginSendHttpStatus(ctx, output, status, body.first,
                                  static_cast<uint32_t>(body.second));
      break;
    case kNoBody:
      OrthancPluginSendHttpStatus(ctx, output, status, "", 0);
      break;
    case kNotAllowed:
      OrthancPluginSendMethodNotAllowed(ctx, output, extra.c_str());
      break;
    case kUnauthorized:
      OrthancPluginSendUnauthorized(ctx, output, extra.c_str());
      break;
    case kRedirect:
      OrthancPluginRedirect(ctx, output, extra.c_str());
      break;
    default:
      throw std::runtime_error("a fast answer frame names an unknown write plan");
  }
}

// The RestOutput that Python sees for this request: made at the first need of the GIL,
// invalidated (with the GIL) when the request ends.
class PythonSide {
 public:
  PythonSide(OrthancPluginRestOutput* output, const char* url) : output_(output), url_(url) {}
  ~PythonSide() {
    if (!made_) return;
    call_python("orthanc-runtime: fast path", url_, OrthancPluginErrorCode_Plugin,
                OrthancPluginErrorCode_Plugin, [&]() {
      invalidate_rest_output(object_);
      object_ = py::object();
      return OrthancPluginErrorCode_Success;
    });
  }
  // With the GIL.
  const py::object& object() {
    if (!made_) {
      object_ = make_rest_output(output_);
      made_ = true;
    }
    return object_;
  }

 private:
  OrthancPluginRestOutput* output_;
  const char* url_;
  bool made_ = false;
  py::object object_;
};

enum class Ended { kAnswered, kFailed };

double seconds_since(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

OrthancPluginErrorCode give_back(IdleSet& set, const Lease& lease, const char* url,
                                 Clock::time_point asked, bool failed, int key) {
  if (set.give_back(lease, seconds_since(asked), failed, key)) {
    return OrthancPluginErrorCode_Success;
  }
  OrthancPluginErrorCode code = call_python(
      "orthanc-runtime: fast path: giving a worker back failed for", url,
      OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Plugin, [&]() {
        set.lease_ended_(lease.serial);
        return OrthancPluginErrorCode_Success;
      });
  set.lease_done();
  return code;
}

OrthancPluginErrorCode fail(IdleSet& set, PythonSide& side, const Lease& lease, const char* kind,
                            const Entry& entry, const char* url, const char* method,
                            double seconds, const std::string& request_id) {
  set.count_failure(entry.key, seconds);
  OrthancPluginErrorCode code = call_python(
      "orthanc-runtime: fast path: answering a failed request failed for", url,
      OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Plugin, [&]() {
        set.on_failure_(side.object(), lease.serial, kind, entry.descriptor, method,
                        request_text(url), seconds, request_id);
        return OrthancPluginErrorCode_Success;
      });
  set.lease_done();
  return code;
}

// `asked`: when the HTTP thread asked for a worker (the latency counts the wait, as the pool's).
OrthancPluginErrorCode run_fast(IdleSet& set, const Entry& entry, const Lease& lease,
                                OrthancPluginRestOutput* output, const char* url,
                                const OrthancPluginHttpRequest* request, Clock::time_point asked) {
  PythonSide side(output, url);
  const char* method = method_name(request->method);
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(entry.timeout));
  const std::string request_id = request_id_of(request);
  std::string frame = request_frame(entry, url, request, request_id);
  if (!write_all(lease.fd, frame.data(), frame.size())) {
    return fail(set, side, lease, "dead", entry, url, method, entry.timeout, request_id);
  }
  std::string payload;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return fail(set, side, lease, "timeout", entry, url, method, entry.timeout, request_id);
    struct pollfd watched = {lease.fd, POLLIN, 0};
    int ready = ::poll(&watched, 1, static_cast<int>(std::min<long long>(left.count() + 1, 60000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;  // the deadline is checked above
    if (ready < 0 || !(watched.revents & POLLIN)) {
      return fail(set, side, lease, "dead", entry, url, method, entry.timeout, request_id);
    }
    uint32_t word;
    if (!read_all(lease.fd, reinterpret_cast<char*>(&word), 4)) {
      return fail(set, side, lease, "dead", entry, url, method, entry.timeout, request_id);
    }
    word = ntohl(word);
    bool raw = (word & kRawFlag) != 0;
    payload.resize(word & ~kRawFlag);
    if (!read_all(lease.fd, &payload[0], payload.size())) {
      return fail(set, side, lease, "dead", entry, url, method, entry.timeout, request_id);
    }
    if (raw) {
      OrthancPluginErrorCode code = give_back(set, lease, url, asked, false, entry.key);
      try {
        execute_plan(output, payload);
      } catch (const std::exception& e) {
        report_error("orthanc-runtime: fast path: the answer could not be written for", url,
                     e.what());
        return OrthancPluginErrorCode_Plugin;
      }
      return code;
    }
    // A pickled message: an SDK call to serve, or an answer Python writes (large, refused,
    // a failure of the handler).
    int said = kDone;
    OrthancPluginErrorCode code = call_python(
        "orthanc-runtime: fast path: a worker's message failed for", url,
        OrthancPluginErrorCode_Plugin, OrthancPluginErrorCode_Plugin, [&]() {
          py::bytes data(payload.data(), payload.size());
          said = set.on_frame_(side.object(), lease.serial, data, entry.descriptor, method,
                               request_text(url), request_id).cast<int>();
          return OrthancPluginErrorCode_Success;
        });
    if (code != OrthancPluginErrorCode_Success) {
      // The worker's state is unknown: the pool replaces it (and counts it failed).
      fail(set, side, lease, "broken", entry, url, method, seconds_since(asked), request_id);
      return code;
    }
    if (said != kWaitOn) return give_back(set, lease, url, asked, said == kFailed, entry.key);
  }
}

OrthancPluginErrorCode fast_route(std::size_t index, OrthancPluginRestOutput* output,
                                  const char* url, const OrthancPluginHttpRequest* request) {
  if (!python_alive()) return OrthancPluginErrorCode_Plugin;
  Entry entry;
  bool found = false;
  {
    std::shared_lock<std::shared_mutex> lock(slots_mutex);
    const auto& methods = slots[index].methods;
    auto it = methods.find(method_name(request->method));
    if (it != methods.end()) {
      entry = it->second;
      found = true;
    }
  }
  // Nested: a handler's SDK call reaches a route of ours on this thread (RestApiGet). Its
  // worker may be the only one: the Python path starts a temporary worker for it.
  thread_local int depth = 0;
  std::shared_ptr<IdleSet> set = found && depth == 0 ? current() : nullptr;
  if (!set || request->bodySize >= kLargeRequest) return rest_trampoline(output, url, request);
  struct Depth {
    int& value;
    explicit Depth(int& v) : value(v) { value++; }
    ~Depth() { value--; }
  } nested{depth};
  RouteRunning running;
  Lease lease;
  auto asked = Clock::now();
  if (!set->lease(entry.timeout, lease)) return rest_trampoline(output, url, request);
  try {
    return run_fast(*set, entry, lease, output, url, request, asked);
  } catch (const std::exception& e) {
    report_error("orthanc-runtime: fast path failed for", url, e.what());
    return OrthancPluginErrorCode_Plugin;
  }
}

const std::array<OrthancPluginRestCallback, kSlots> callbacks =
    slot_callbacks<&fast_route>(std::make_index_sequence<kSlots>{});

// Registers `regex` on a slot of its own, or updates the slot that has it; false when
// every slot is taken (the route then goes through the Python path).
bool register_fast_route(const std::string& regex, const py::dict& methods) {
  std::unordered_map<std::string, Entry> table;
  for (auto item : methods) {
    auto pair = item.second.cast<py::tuple>();
    table[item.first.cast<std::string>()] = Entry{
        pair[0].cast<std::string>(), pair[1].cast<double>(),
        pair.size() > 2 ? pair[2].cast<int>() : -1};
  }
  std::size_t index = kSlots;
  bool fresh = false;
  {
    std::unique_lock<std::shared_mutex> lock(slots_mutex);
    for (std::size_t i = 0; i < slots_used; i++) {
      if (slots[i].regex == regex) index = i;
    }
    if (index == kSlots) {
      if (slots_used == kSlots) return false;
      index = slots_used++;
      slots[index].regex = regex;
      fresh = true;
    }
    slots[index].methods = std::move(table);
  }
  if (fresh) register_route(regex, callbacks[index]);  // without the GIL (route_gate.cpp)
  return true;
}

}  // namespace

void forget_fast_routes() {
  // Orthanc forgets its route callbacks when it restarts in its process (/tools/reset), and
  // this library stays loaded: the next start registers its fast routes anew.
  {
    std::unique_lock<std::shared_mutex> lock(slots_mutex);
    for (std::size_t i = 0; i < slots_used; i++) slots[i] = Slot{};
    slots_used = 0;
  }  // the idle set was let go by Python (set_fast_pool(None)), with the GIL
}

void init_fast_path(py::module_& m) {
  py::class_<IdleSet, std::shared_ptr<IdleSet>>(m, "IdleSet",
      "The idle workers of a pool, shared with the fast path's HTTP threads (fast_path.cpp).")
      .def(py::init<py::object, py::object, py::object, int, std::vector<double>>(),
           py::arg("on_frame"), py::arg("on_failure"), py::arg("lease_ended"),
           py::arg("queue_limit"), py::arg("bounds") = std::vector<double>{})
      .def("push", &IdleSet::push)
      .def("take", &IdleSet::take)
      .def("set_waiting", &IdleSet::set_waiting)
      .def("discard", &IdleSet::discard)
      .def("serials", &IdleSet::serials)
      .def("drain", &IdleSet::drain)
      .def("__len__", &IdleSet::size)
      .def("native_waiting", &IdleSet::native_waiting)
      .def("leased", &IdleSet::leased)
      .def("answered", &IdleSet::answered, "(done, failed): answers from leased workers.")
      .def("take_latencies", &IdleSet::take_latencies,
           "Seconds from asking for a worker to each answer since the last call (at most 1,024).")
      .def("take_key_stats", &IdleSet::take_key_stats,
           "[(key, requests, errors, seconds, buckets)] per handler key since the last call; "
           "buckets as the constructor's bounds, and one past the last.")
      .def("take_tasks_by_serial", &IdleSet::take_tasks_by_serial,
           "{worker serial: answers} since the last call.");

  m.def("register_fast_route", &register_fast_route, py::arg("regex"), py::arg("methods"),
        "Registers a route whose methods {name: (descriptor, timeout[, key])} go to a worker "
        "without the GIL; False when no slot is left (then register_rest_route).");
  m.def("set_fast_pool", [](std::shared_ptr<IdleSet> set) {
    std::shared_ptr<IdleSet> old;
    {
      std::lock_guard<std::mutex> lock(current_mutex);
      old = std::move(current_set);
      current_set = std::move(set);
    }
  }, py::arg("idle_set").none(true), "The idle set the fast routes lease from; None: the "
     "Python path for every request.");
}

}  // namespace ort
