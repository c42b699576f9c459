// The access log: one JSON object per request, buffered per worker, written in batches.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace ringproxy {

// An access log destination opened but not yet written to: made by open(), put in use by
// AccessLogSink::install(), its file closed when dropped uninstalled (so a reload that fails
// after opening the new file leaves the sink as it was). Move-only; one thread at a time.
class AccessLogTarget {
 public:
  // target: "stdout", "off" or a file path (opened to append, created if missing). Nullopt (with
  // *error) when the file can't be opened.
  static std::optional<AccessLogTarget> open(const std::string& target, std::string* error);

  AccessLogTarget(AccessLogTarget&& other) noexcept;
  AccessLogTarget& operator=(AccessLogTarget&& other) noexcept;
  AccessLogTarget(const AccessLogTarget&) = delete;
  AccessLogTarget& operator=(const AccessLogTarget&) = delete;
  ~AccessLogTarget();

  const std::string& path() const { return path_; }

 private:
  friend class AccessLogSink;
  AccessLogTarget() = default;

  std::string path_;
  int fd_ = -1;  // STDOUT_FILENO for "stdout", -1 for "off"
  bool owns_fd_ = false;
};

// Where access log lines go: stdout or an append-only file, written by one writer thread so
// that no event loop ever waits on the disk or a pipe. Thread-safe: workers submit whole
// batches (a mutex per batch, not per request); open(), install() and reopen() swap the
// descriptor.
class AccessLogSink {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 64 * 1024 * 1024;  // beyond: batches dropped

  AccessLogSink();
  ~AccessLogSink();  // writes what is queued, then stops the writer
  AccessLogSink(const AccessLogSink&) = delete;
  AccessLogSink& operator=(const AccessLogSink&) = delete;

  // target: "stdout", "off" or a file path. False (with *error) when the file can't be opened.
  // The same as AccessLogTarget::open() then install().
  bool open(const std::string& target, std::string* error);
  // Writes to target from now on and closes the previous file; cannot fail.
  void install(AccessLogTarget&& target) noexcept;
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  // Queues a batch of lines for the writer; never blocks on I/O.
  void submit(std::string batch);
  // Reopens the file (log rotation, SIGUSR1); a no-op for stdout.
  void reopen();
  std::uint64_t dropped_batches() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void run();
  void write_all(std::string_view batch);

  std::mutex queue_mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool stopping_ = false;

  std::mutex fd_mutex_;  // guards path_, fd_, owns_fd_
  std::string path_;
  int fd_ = -1;
  bool owns_fd_ = false;
  std::atomic<bool> enabled_{false};
  std::atomic<std::uint64_t> dropped_{0};
  std::thread writer_;
};

// What the access log records about one request.
struct AccessRecord {
  std::string_view client;
  std::string_view method;
  std::string_view target;
  int status = 0;
  std::string_view upstream;
  std::string_view backend;
  std::uint64_t bytes_in = 0;   // request body bytes read from the client
  std::uint64_t bytes_out = 0;  // response body bytes written to the client
  std::chrono::steady_clock::duration duration{};
  std::string_view request_id;
  unsigned attempts = 0;  // backends tried
  bool aborted = false;   // the response was cut off
  bool rate_limited = false;
  std::string_view tls_version;  // on a TLS listener ("TLSv1.3"); the fields are omitted else
  std::string_view tls_cipher;
  // A tunnel's line (at its close; bytes_in and bytes_out are then the bytes each way): who
  // ended it ("client", "backend", "idle", "drain", "error"); empty for a request.
  std::string_view closed_by;
};

// One worker's pending lines; flushed when large or on a short timer. Worker thread only.
class AccessLogBuffer {
 public:
  AccessLogBuffer(boost::asio::any_io_executor ex, AccessLogSink& sink);
  void append(const AccessRecord& r);
  void flush();
  // Whether lines are written at all ("off": append drops them).
  bool enabled() const { return sink_.enabled(); }

  static constexpr std::size_t kFlushBytes = 64 * 1024;
  static constexpr std::chrono::milliseconds kFlushInterval{200};

 private:
  AccessLogSink& sink_;
  boost::asio::steady_timer timer_;
  std::string buffer_;
  bool timer_pending_ = false;
  std::int64_t stamp_second_ = -1;
  char stamp_[32] = {};
};

// Appends s to out as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view s);

}  // namespace ringproxy
