// The pipeline's HTTP/1.1 response read back as HTTP/2 (see h2_response_reader.hpp).
#include "http/h2_response_reader.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstring>

#include "policy/http_fields.hpp"

namespace ringproxy {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kCrlf = "\r\n";

// Fields that mean something for one HTTP/1.1 connection only (RFC 9113 §8.2.2); name is
// lower-case.
bool connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 1*DIGIT (leading zeros allowed) that fits in 64 bits.
bool parse_length(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = v;
  return true;
}

// "HTTP/1.x DDD[ reason]": the status, or 0.
int status_of(std::string_view line) {
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ') return 0;
  if (line.size() > 12 && line[12] != ' ') return 0;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    status = status * 10 + (line[i] - '0');
  }
  return status >= 100 ? status : 0;
}

}  // namespace

H2ResponseReader::Head H2ResponseReader::read_head(std::string_view bytes, std::size_t* used) {
  *used = 0;
  const std::size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return bytes.size() > kMaxHead ? Head::bad : Head::partial;
  }
  if (end + 4 > kMaxHead) return Head::bad;
  scratch_->head.assign(bytes.data(), end + 4);
  *used = end + 4;
  Framing framing;
  if (!scan_head(&framing)) return Head::bad;
  if (status_ < 200 && status_ != 101) return Head::interim;
  final_ = true;
  start_body(framing);
  return Head::final;
}

void H2ResponseReader::take_final_head(int status, std::uint64_t length) {
  status_ = status;
  final_ = true;
  Framing framing;
  framing.has_length = true;
  framing.length = length;
  start_body(framing);
}

bool H2ResponseReader::scan_head(Framing* framing) {
  std::string& head = scratch_->head;
  std::vector<H2Field>& fields = scratch_->fields;
  fields.clear();
  std::string_view rest = head;
  std::size_t eol = rest.find(kCrlf);
  status_ = status_of(rest.substr(0, eol));
  if (status_ == 0) return false;
  char* const base = head.data();
  std::size_t at = eol + kCrlf.size();
  while (true) {
    eol = head.find(kCrlf, at);
    if (eol == at) return true;  // the empty line that ends the head
    const std::string_view line(base + at, eol - at);
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    char* const name_at = base + at;
    for (std::size_t i = 0; i < colon; ++i) {
      const char c = name_at[i];
      if (c >= 'A' && c <= 'Z') name_at[i] = static_cast<char>(c - 'A' + 'a');
    }
    const std::string_view name(name_at, colon);
    const std::string_view value = trim_ows(line.substr(colon + 1));
    at = eol + kCrlf.size();
    if (name == "content-length") {
      if (!parse_length(value, &framing->length)) return false;
      framing->has_length = true;
    } else if (name == "transfer-encoding") {
      // The last coding decides (RFC 9112 §6.3): chunked, or the body runs to the close.
      std::string_view last;
      for_each_token(value, [&](std::string_view t) { last = t; });
      framing->chunked = iequals(last, "chunked");
    }
    if (!connection_specific(name)) fields.push_back({name, value});
  }
}

void H2ResponseReader::start_body(const Framing& framing) {
  parser_.reset();
  remaining_ = 0;
  // HEAD's answer, 101 (the rest is a tunnel's), 204 and 304 have no body (RFC 9112 §6.3).
  if (head_request_ || status_ == 101 || status_ == 204 || status_ == 304) {
    body_ = Body::none;
    return;
  }
  if (!framing.chunked && framing.has_length) {
    body_ = Body::length;
    remaining_ = framing.length;
    return;
  }
  // The chunk and trailer rules stay Beast's: its parser gets a head of the framing alone.
  body_ = Body::parser;
  parser_ = std::make_unique<Parser>();
  parser_->header_limit(kMaxHead);
  parser_->body_limit(boost::none);
  const std::string_view head = framing.chunked
                                    ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    : "HTTP/1.1 200 OK\r\n\r\n";
  boost::system::error_code ec;
  parser_->put(boost::asio::buffer(head.data(), head.size()), ec);
  parser_head_.note(parser_->get());
  parser_->eager(true);
}

bool H2ResponseReader::done() const {
  if (!final_) return false;
  switch (body_) {
    case Body::none:
      return true;
    case Body::length:
      return remaining_ == 0;
    case Body::parser:
      return parser_->is_done();
  }
  return false;
}

const std::vector<H2Field>& H2ResponseReader::trailers() {
  trailer_names_.clear();
  trailers_.clear();
  if (body_ != Body::parser || !parser_->is_done() || !parser_->chunked()) return trailers_;
  // Beast adds a chunked body's trailer fields to the message's (see HeadFields).
  std::size_t next = 0;
  std::size_t count = 0;
  for (const auto& f : parser_->get()) count += parser_head_.is_head(&f, next) ? 0 : 1;
  trailer_names_.reserve(count);  // no reallocation below: trailers_ points into the names
  next = 0;
  for (const auto& f : parser_->get()) {
    if (parser_head_.is_head(&f, next)) continue;
    std::string& name = trailer_names_.emplace_back(f.name_string());
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    if (connection_specific(name)) {
      trailer_names_.pop_back();
      continue;
    }
    trailers_.push_back({name, f.value()});
  }
  return trailers_;
}

std::size_t H2ResponseReader::read_body(std::string_view bytes, std::size_t* used, char* dst,
                                        std::size_t room, bool* bad) {
  *used = 0;
  if (!final_ || room == 0) return 0;
  if (body_ == Body::length) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, std::min(room, bytes.size())));
    std::memcpy(dst, bytes.data(), n);
    remaining_ -= n;
    *used = n;
    return n;
  }
  if (body_ != Body::parser || parser_->is_done()) return 0;
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
  if (body_ != Body::parser || parser_->is_done()) return;
  boost::system::error_code ec;
  parser_->put_eof(ec);
}

}  // namespace ringproxy
