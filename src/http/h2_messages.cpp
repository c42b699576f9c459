// HTTP/2 messages in HTTP/1.1 form and back (see h2_messages.hpp).
#include "http/h2_messages.hpp"

#include <boost/beast/http/error.hpp>

namespace ringproxy {

namespace http = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Fields that mean something for one HTTP/1.1 connection only (RFC 9113 §8.2.2).
bool connection_specific(std::string_view name) {
  return iequals(name, "connection") || iequals(name, "keep-alive") ||
         iequals(name, "proxy-connection") || iequals(name, "transfer-encoding") ||
         iequals(name, "upgrade");
}

}  // namespace

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
  if (name == "host") {
    host_ = value;
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
  if (name == "content-length") content_length_ = true;
  if (name == "content-type" && value.starts_with("application/grpc")) grpc_ = true;
  fields_.append(name).append(": ").append(value).append("\r\n");
}

std::string H2RequestHead::text(bool body, bool* chunked) const {
  std::string out;
  out.reserve(method_.size() + path_.size() + authority_.size() + fields_.size() + cookie_.size() +
              64);
  // CONNECT has no :path: its target is the authority (the pipeline refuses it with 405).
  out.append(method_).append(" ").append(path_.empty() ? authority_ : path_);
  out.append(" HTTP/1.1\r\n");
  const std::string& host = authority_.empty() ? host_ : authority_;
  if (!host.empty()) out.append("host: ").append(host).append("\r\n");
  out.append(fields_);
  if (!cookie_.empty()) out.append("cookie: ").append(cookie_).append("\r\n");
  *chunked = body && !content_length_;
  if (*chunked) out.append("transfer-encoding: chunked\r\n");
  out.append("\r\n");
  return out;
}

bool H2RequestHead::websocket() const {
  return method_ == "CONNECT" && iequals(protocol_, "websocket");
}

std::string H2RequestHead::websocket_text(std::string_view key) const {
  bool chunked = false;
  std::string out = text(false, &chunked);
  // "CONNECT <path>" becomes "GET <path>"; the fields end before the last empty line.
  out.replace(0, method_.size(), "GET");
  out.resize(out.size() - 2);
  out.append("connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n");
  out.append("sec-websocket-key: ").append(key).append("\r\n\r\n");
  return out;
}

void H2ResponseReader::restart() {
  parser_.emplace();
  parser_->header_limit(64 * 1024);
  parser_->body_limit(boost::none);
  if (head_request_) parser_->skip(true);
}

H2ResponseReader::Head H2ResponseReader::read_head(std::string_view bytes, std::size_t* used) {
  *used = 0;
  if (parser_->is_header_done()) restart();  // the previous head was interim
  boost::system::error_code ec;
  *used = parser_->put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec == http::error::need_more) return Head::partial;
  if (ec || !parser_->is_header_done()) return ec ? Head::bad : Head::partial;
  const auto& res = parser_->get();
  status_ = res.result_int();
  names_.clear();
  fields_.clear();
  for (const auto& f : res) {
    if (connection_specific(f.name_string())) continue;
    std::string name(f.name_string());
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    names_.push_back(std::move(name));
  }
  std::size_t i = 0;
  for (const auto& f : res) {
    if (connection_specific(f.name_string())) continue;
    fields_.push_back({names_[i++], f.value()});
  }
  if (parser_->chunked()) head_.note(res);
  parser_->eager(true);
  return status_ >= 100 && status_ < 200 && status_ != 101 ? Head::interim : Head::final;
}

const std::vector<H2Field>& H2ResponseReader::trailers() {
  trailer_names_.clear();
  trailers_.clear();
  if (!parser_->is_done() || !parser_->chunked()) return trailers_;
  // Beast adds a chunked body's trailer fields to the message's (see HeadFields).
  std::size_t next = 0;
  for (const auto& f : parser_->get()) {
    if (head_.is_head(&f, next) || connection_specific(f.name_string())) continue;
    std::string name(f.name_string());
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    trailer_names_.push_back(std::move(name));
  }
  next = 0;
  std::size_t k = 0;
  for (const auto& f : parser_->get()) {
    if (head_.is_head(&f, next) || connection_specific(f.name_string())) continue;
    trailers_.push_back({trailer_names_[k++], f.value()});
  }
  return trailers_;
}

std::size_t H2ResponseReader::read_body(std::string_view bytes, std::size_t* used, char* dst,
                                        std::size_t room, bool* bad) {
  *used = 0;
  if (parser_->is_done() || room == 0) return 0;
  auto& body = parser_->get().body();
  body.data = dst;
  body.size = room;
  boost::system::error_code ec;
  while (!parser_->is_done() && *used < bytes.size() && body.size > 0) {
    const std::size_t n =
        parser_->put(boost::asio::buffer(bytes.data() + *used, bytes.size() - *used), ec);
    *used += n;
    if (ec == http::error::need_more || ec == http::error::need_buffer) {
      ec = {};
      if (n == 0) break;
      continue;
    }
    if (ec) {
      *bad = true;
      break;
    }
    if (n == 0) break;
  }
  return room - body.size;
}

void H2ResponseReader::end_of_input() {
  if (parser_->is_done()) return;
  boost::system::error_code ec;
  parser_->put_eof(ec);
}

}  // namespace ringproxy
