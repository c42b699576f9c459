#include "log/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

namespace ringproxy {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

AccessLogSink::AccessLogSink() : writer_([this] { run(); }) {}

AccessLogSink::~AccessLogSink() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

std::optional<AccessLogTarget> AccessLogTarget::open(const std::string& target,
                                                     std::string* error) {
  AccessLogTarget out;
  out.path_ = target;
  if (target == "stdout") {
    out.fd_ = STDOUT_FILENO;
  } else if (target != "off") {
    out.fd_ = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out.fd_ < 0) {
      if (error) *error = "cannot open access log \"" + target + "\": " + std::strerror(errno);
      return std::nullopt;
    }
    out.owns_fd_ = true;
  }
  return out;
}

AccessLogTarget::AccessLogTarget(AccessLogTarget&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), owns_fd_(other.owns_fd_) {
  other.fd_ = -1;
  other.owns_fd_ = false;
}

AccessLogTarget& AccessLogTarget::operator=(AccessLogTarget&& other) noexcept {
  if (this != &other) {
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    owns_fd_ = std::exchange(other.owns_fd_, false);
  }
  return *this;
}

AccessLogTarget::~AccessLogTarget() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

bool AccessLogSink::open(const std::string& target, std::string* error) {
  std::optional<AccessLogTarget> opened = AccessLogTarget::open(target, error);
  if (!opened) return false;
  install(std::move(*opened));
  return true;
}

void AccessLogSink::install(AccessLogTarget&& target) noexcept {
  std::lock_guard lock(fd_mutex_);
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
  path_ = std::move(target.path_);
  fd_ = std::exchange(target.fd_, -1);
  owns_fd_ = std::exchange(target.owns_fd_, false);
  enabled_.store(fd_ >= 0, std::memory_order_relaxed);
}

void AccessLogSink::submit(std::string batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(queue_mutex_);
    if (queued_bytes_ + batch.size() > kMaxQueuedBytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);  // the disk is stuck: never stall a loop
      return;
    }
    queued_bytes_ += batch.size();
    queue_.push_back(std::move(batch));
  }
  wake_.notify_one();
}

void AccessLogSink::run() {
  std::unique_lock lock(queue_mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    std::deque<std::string> batches;
    batches.swap(queue_);
    queued_bytes_ = 0;
    lock.unlock();
    for (const auto& b : batches) write_all(b);
    lock.lock();
  }
}

void AccessLogSink::write_all(std::string_view batch) {
  std::lock_guard lock(fd_mutex_);
  while (fd_ >= 0 && !batch.empty()) {
    const ssize_t n = ::write(fd_, batch.data(), batch.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk must not stop the proxy
    batch.remove_prefix(static_cast<std::size_t>(n));
  }
}

void AccessLogSink::reopen() {
  std::lock_guard lock(fd_mutex_);
  if (!owns_fd_) return;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;  // keep writing to the old file rather than lose lines
  ::close(fd_);
  fd_ = fd;
}

AccessLogBuffer::AccessLogBuffer(boost::asio::any_io_executor ex, AccessLogSink& sink)
    : sink_(sink), timer_(std::move(ex)) {
  buffer_.reserve(kFlushBytes + 1024);
}

void AccessLogBuffer::append(const AccessRecord& r) {
  if (!sink_.enabled()) return;
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  const std::int64_t second = ms.count() / 1000;
  if (second != stamp_second_) {
    stamp_second_ = second;
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::strftime(stamp_, sizeof stamp_, "%Y-%m-%dT%H:%M:%S", &tm);
  }
  char num[64];
  std::string& b = buffer_;
  std::snprintf(num, sizeof num, ".%03dZ", static_cast<int>(ms.count() % 1000));
  b += "{\"time\":\"";
  b += stamp_;
  b += num;
  b += "\",\"client\":";
  append_json_string(b, r.client);
  b += ",\"method\":";
  append_json_string(b, r.method);
  b += ",\"path\":";
  append_json_string(b, r.target);
  b += ",\"status\":";
  b += std::to_string(r.status);
  b += ",\"upstream\":";
  append_json_string(b, r.upstream);
  b += ",\"backend\":";
  append_json_string(b, r.backend);
  b += ",\"bytes_in\":";
  b += std::to_string(r.bytes_in);
  b += ",\"bytes_out\":";
  b += std::to_string(r.bytes_out);
  std::snprintf(num, sizeof num, ",\"duration_ms\":%.3f",
                std::chrono::duration<double, std::milli>(r.duration).count());
  b += num;
  b += ",\"request_id\":";
  append_json_string(b, r.request_id);
  b += ",\"attempts\":";
  b += std::to_string(r.attempts);
  b += r.aborted ? ",\"aborted\":true" : ",\"aborted\":false";
  b += r.rate_limited ? ",\"rate_limited\":true" : ",\"rate_limited\":false";
  if (!r.tls_version.empty()) {
    b += ",\"tls_version\":";
    append_json_string(b, r.tls_version);
    b += ",\"tls_cipher\":";
    append_json_string(b, r.tls_cipher);
  }
  if (!r.closed_by.empty()) {
    b += ",\"tunnel_closed_by\":";
    append_json_string(b, r.closed_by);
  }
  b += "}\n";

  if (buffer_.size() >= kFlushBytes) {
    flush();
  } else if (!timer_pending_) {
    timer_pending_ = true;
    timer_.expires_after(kFlushInterval);
    // The buffer is a Worker member that outlives its io_context's handlers.
    timer_.async_wait([this](boost::system::error_code ec) {
      timer_pending_ = false;
      if (!ec) flush();
    });
  }
}

void AccessLogBuffer::flush() {
  if (buffer_.empty()) return;
  std::string batch;
  batch.reserve(kFlushBytes + 1024);
  batch.swap(buffer_);
  sink_.submit(std::move(batch));
}

}  // namespace ringproxy
