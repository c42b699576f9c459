// HTTP/2 messages in HTTP/1.1 form and back (see h2_messages.hpp).
#include "http/h2_messages.hpp"

#include <algorithm>
#include <cstring>

#include "policy/http_fields.hpp"

namespace ringproxy {

GrpcStatus grpc_status_for(int http_status) {
  switch (http_status) {
    case 404:
      return {12, "no route for this request"};
    case 405:
      return {12, "method not allowed"};
    case 408:
    case 504:
      return {4, "the backend did not answer in time"};
    case 413:
    case 431:
      return {8, "request too large"};
    case 429:
      return {8, "rate limited"};
    case 502:
      return {14, "the backend failed"};
    case 503:
      return {14, "no backend available"};
    case 400:
      return {13, "bad request"};
    default:
      return {2, "proxy error"};
  }
}

void H2RequestHead::clear() {
  for (std::string* s : {&method_, &scheme_, &authority_, &path_, &protocol_, &fields_, &host_,
                         &cookie_, &content_length_value_}) {
    s->clear();
  }
  content_length_ = grpc_ = bad_expect_ = too_large_ = false;
  host_fields_ = field_count_ = longest_part_ = size_ = 0;
}

std::size_t H2RequestHead::memory() const {
  std::size_t n = 0;
  for (const std::string* s : {&method_, &scheme_, &authority_, &path_, &protocol_, &fields_,
                               &host_, &cookie_, &content_length_value_}) {
    n += s->capacity();
  }
  return n;
}

void H2RequestHead::add(std::string_view name, std::string_view value, std::size_t limit) {
  size_ += name.size() + value.size() + 4;
  if (size_ > limit) too_large_ = true;
  if (too_large_) return;
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") method_ = value;
    if (name == ":scheme") scheme_ = value;
    if (name == ":authority") authority_ = value;
    if (name == ":path") path_ = value;
    if (name == ":protocol") protocol_ = value;
    return;
  }
  longest_part_ = std::max(longest_part_, std::max(name.size(), value.size()));
  if (name == "host") {
    host_ = value;
    ++host_fields_;
    return;
  }
  if (name == "cookie") {
    // Crumbs are joined into one field for HTTP/1.1 (RFC 9113 §8.2.3).
    if (!cookie_.empty()) cookie_ += "; ";
    cookie_ += value;
    return;
  }
  if (!protocol_.empty() && (name == "sec-websocket-key" || name == "sec-websocket-version")) {
    return;  // extended CONNECT has no key (RFC 8441 §5): the proxy makes the HTTP/1.1 one
  }
  if (name == "content-length") {
    content_length_ = true;
    content_length_value_ = value;
  }
  if (name == "content-type" && value.starts_with("application/grpc")) grpc_ = true;
  if (name == "expect" && !iequals(value, "100-continue")) bad_expect_ = true;
  ++field_count_;
  if (fields_.empty()) fields_.reserve(256);  // one allocation for most requests' fields
  fields_.append(name).append(": ").append(value).append("\r\n");
}

std::string H2RequestHead::take_text(bool body, bool* chunked) {
  // The request line and the host field go in front of the fields, in their string.
  // CONNECT has no :path: its target is the authority (the pipeline refuses it with 405).
  const std::string& target = path_.empty() ? authority_ : path_;
  const std::string& host = authority_.empty() ? host_ : authority_;
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  constexpr std::string_view kHost = "host: ";
  const std::size_t front = method_.size() + 1 + target.size() + kVersion.size() +
                            (host.empty() ? 0 : kHost.size() + host.size() + 2);
  std::string out = std::move(fields_);
  out.reserve(front + out.size() + cookie_.size() + 48);
  out.insert(0, front, ' ');
  char* p = out.data();
  auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(method_);
  put(" ");
  put(target);
  put(kVersion);
  if (!host.empty()) {
    put(kHost);
    put(host);
    put("\r\n");
  }
  if (!cookie_.empty()) out.append("cookie: ").append(cookie_).append("\r\n");
  *chunked = body && !content_length_;
  if (*chunked) out.append("transfer-encoding: chunked\r\n");
  out.append("\r\n");
  return out;
}

H2RequestFacts H2RequestHead::facts() const {
  H2RequestFacts f;
  f.method = method_;
  f.target = target();
  f.host = host();
  f.host_fields = host_fields_;
  f.field_lines = field_count_ + (host().empty() ? 0 : 1) + (cookie_.empty() ? 0 : 1);
  f.longest_part = std::max(longest_part_, cookie_.size());
  f.bad_expect = bad_expect_;
  return f;
}

bool H2RequestHead::websocket() const {
  return method_ == "CONNECT" && iequals(protocol_, "websocket");
}

std::string H2RequestHead::take_websocket_text(std::string_view key) {
  bool chunked = false;
  std::string out = take_text(false, &chunked);
  // "CONNECT <path>" becomes "GET <path>"; the fields end before the last empty line.
  out.replace(0, method_.size(), "GET");
  out.resize(out.size() - 2);
  out.append("connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n");
  out.append("sec-websocket-key: ").append(key).append("\r\n\r\n");
  return out;
}

}  // namespace ringproxy
