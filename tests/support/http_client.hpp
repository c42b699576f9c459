#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "support/origin_server.hpp"  // HeaderList, find_header, pattern helpers

namespace ringproxy::test {

// One HTTP response as the client read it; status 0 and `error` set when reading failed.
struct HttpResponse {
  int status = 0;
  std::string reason;
  int version = 0;  // 11 for HTTP/1.1, 10 for HTTP/1.0
  HeaderList headers;
  std::string body;
  bool keep_alive = false;
  bool chunked = false;
  std::string error;
  // First value of the header (case-insensitive), "" if absent.
  std::string header(std::string_view name) const { return find_header(headers, name); }
  std::size_t header_count(std::string_view name) const { return count_header(headers, name); }
};

// Outcome of download(): the body was counted and checked against the pattern, never held.
struct StreamResult {
  int status = 0;
  HeaderList headers;
  std::uint64_t bytes = 0;  // body bytes received
  bool pattern_ok = false;  // every byte received was 'a' + offset % 26
  bool complete = false;    // the whole message arrived (Content-Length met / last chunk seen)
  bool keep_alive = false;
  bool chunked = false;
  std::string error;
  std::string header(std::string_view name) const { return find_header(headers, name); }
  std::size_t header_count(std::string_view name) const { return count_header(headers, name); }
};

// A blocking HTTP/1.1 test client over one TCP connection; every operation is bounded by a
// timeout (no progress for timeout() ends it with error "timeout"), so a test never hangs.
// Thread-safety: none; use one client per thread.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Inactivity limit for every operation (default 10 s).
  void set_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds timeout() const;

  // Connects (closing any previous connection); binds to `source_ip` (e.g. "127.0.0.2") first
  // when given. False on failure, with the reason in last_error().
  bool connect(std::uint16_t port, std::string host = "127.0.0.1", std::string source_ip = "");
  bool is_open() const;
  // Local port of the connection (0 if not connected).
  std::uint16_t local_port() const;
  std::string last_error() const;

  // Sends one request and reads its response (interim 1xx responses are skipped). Adds
  // "Host: localhost" unless given, and Content-Length when there is a body (or for POST/PUT/
  // PATCH) unless Content-Length or Transfer-Encoding is given.
  HttpResponse request(std::string_view method, std::string_view target,
                       const HeaderList& headers = {}, std::string_view body = {});
  HttpResponse get(std::string_view target, const HeaderList& headers = {}) {
    return request("GET", target, headers);
  }

  // Writes bytes as they are; false on error.
  bool send_raw(std::string_view bytes);
  // Reads the next response (including a 1xx one) on the connection. `head_request`: the
  // response answers a HEAD, so it has no body whatever its headers say.
  HttpResponse read_response(bool head_request = false);
  // True when the peer closed the connection (EOF or reset) within `within`; any data that
  // arrives meanwhile is discarded.
  bool wait_closed(std::chrono::milliseconds within);
  void close();

  // Sends a request with `bytes` pattern bytes of body ('a' + i % 26, 64 KiB pieces), with
  // Content-Length or chunked, while reading the response concurrently (so /echo cannot
  // deadlock); the response body is kept in full.
  HttpResponse upload(std::string_view target, std::uint64_t bytes, bool chunked = false,
                      const HeaderList& headers = {}, std::string_view method = "POST");
  // Sends a request and reads the response body streaming, counting it and checking the pattern.
  StreamResult download(std::string_view target, const HeaderList& headers = {},
                        std::string_view method = "GET");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringproxy::test
