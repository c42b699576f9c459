// Request and response heads written as text from parsed fields (see forwarded_head.hpp).
#include "http/forwarded_head.hpp"

#include <array>
#include <charconv>

#include "policy/http_fields.hpp"

namespace ringproxy {

namespace http = boost::beast::http;

namespace {

// The room a client's response head starts with: most heads fit.
constexpr std::size_t kResponseHeadRoom = 512;

// The tokens of a message's Connection fields: the fields they name are hop-by-hop too.
class ConnectionNames {
 public:
  // A walk over the list (an enum compare per field), not a lookup in Beast's set (string
  // compares).
  explicit ConnectionNames(const MessageFields& fields) {
    for (const auto& f : fields) {
      if (f.name() != http::field::connection) continue;
      for_each_token(f.value(), [this](std::string_view t) {
        if (count_ < names_.size()) {
          names_[count_++] = t;
        } else {
          overflow_ = true;
        }
      });
      if (overflow_) values_ = &fields;
    }
  }
  bool names(std::string_view field) const {
    if (values_ != nullptr) {  // more tokens than kept: look at the values again
      for (const auto& f : *values_) {
        if (f.name() == http::field::connection && connection_lists(f.value(), field)) return true;
      }
      return false;
    }
    for (std::size_t i = 0; i < count_; ++i) {
      if (iequals(names_[i], field)) return true;
    }
    return false;
  }

 private:
  std::array<std::string_view, 8> names_;
  std::size_t count_ = 0;
  bool overflow_ = false;
  const MessageFields* values_ = nullptr;
};

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// Appends "v, " for a received list value v (its trailing commas and spaces dropped), unless
// empty.
void append_value(std::string& out, std::string_view v) {
  while (!v.empty() && (v.back() == ' ' || v.back() == ',')) v.remove_suffix(1);
  if (!v.empty()) out.append(v).append(", ");
}

// Appends "Name: v1, v2, ..., tail\r\n": every line of the received field joined, then tail.
void append_joined(std::string& out, const MessageFields& fields, http::field name,
                   std::string_view name_text, std::string_view tail) {
  out.append(name_text).append(": ");
  for (const auto& f : fields) {  // the list in order, no string compares
    if (f.name() == name) append_value(out, f.value());
  }
  out.append(tail).append("\r\n");
}

// The same for a field Beast has no enum for (found by name).
void append_joined(std::string& out, const MessageFields& fields, std::string_view name,
                   std::string_view tail) {
  out.append(name).append(": ");
  for (const auto& f : fields) {
    if (f.name() == http::field::unknown && iequals(f.name_string(), name)) {
      append_value(out, f.value());
    }
  }
  out.append(tail).append("\r\n");
}

bool is_forwarding_field(std::string_view name) {
  return name.size() >= 15 && (name[0] == 'x' || name[0] == 'X') &&
         (iequals(name, "x-forwarded-for") || iequals(name, "x-forwarded-proto") ||
          iequals(name, "x-forwarded-host") || iequals(name, "x-client-cert-subject"));
}

}  // namespace

bool is_hop_by_hop_field(http::field id) {
  switch (id) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

void write_upstream_request_head(const http::header<true, MessageFields>& req,
                                 const UpstreamRequestHead& parts, std::string& out) {
  out.clear();
  out.append(req.method_string()).append(" ").append(parts.target).append(" HTTP/1.1\r\n");
  append_field(out, "Host", parts.host);
  const ConnectionNames connection_names(req);
  const bool hop_counted = req.method() == http::verb::options || req.method() == http::verb::trace;
  bool trailers = false;  // the client's TE lists "trailers": the one TE a proxy passes on
  for (const auto& f : req) {
    const std::string_view name = f.name_string();
    const http::field id = f.name();
    if (id == http::field::te) {
      for_each_token(f.value(),
                     [&](std::string_view t) { trailers = trailers || iequals(t, "trailers"); });
      continue;
    }
    if (id == http::field::max_forwards && hop_counted) {
      // RFC 9110 §7.6.2: decremented on the way (a 0 was answered by the proxy).
      std::uint64_t hops = 0;
      const std::string_view v = f.value();
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), hops);
      if (ec == std::errc{} && end == v.data() + v.size() && hops > 0) {
        char digits[24];
        const auto [dend, dec] = std::to_chars(digits, digits + sizeof(digits), hops - 1);
        append_field(out, name, std::string_view(digits, static_cast<std::size_t>(dend - digits)));
        continue;
      }
    }
    if (id == http::field::expect || id == http::field::via || id == http::field::host) {
      continue;  // answered by the proxy; rewritten
    }
    if (id == http::field::content_length && parts.chunked) continue;
    if (id == http::field::unknown && is_forwarding_field(name)) continue;  // rewritten below
    if (is_hop_by_hop_field(id) || connection_names.names(name)) continue;
    append_field(out, name, f.value());
  }
  if (parts.chunked) out.append("Transfer-Encoding: chunked\r\n");
  if (trailers) out.append("TE: trailers\r\nConnection: TE\r\n");
  if (!parts.upgrade.empty()) {
    out.append("Connection: upgrade\r\n");
    append_field(out, "Upgrade", parts.upgrade);
  }
  append_joined(out, req, "X-Forwarded-For", parts.client_ip);
  out.append(parts.https ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
  if (!parts.forwarded_host.empty()) append_field(out, "X-Forwarded-Host", parts.forwarded_host);
  append_joined(out, req, http::field::via, "Via", "1.1 ringproxy");
  if (!parts.request_id.empty()) append_field(out, "X-Request-Id", parts.request_id);
  if (!parts.client_cert_subject.empty()) {
    append_field(out, "X-Client-Cert-Subject", parts.client_cert_subject);
  }
  out.append("\r\n");
}

namespace {

// The response head's fields in write_client_response_head's order, to sink.field(name, value)
// and sink.joined(fields, id, name, tail) (every received line joined, then tail).
template <class Sink>
void emit_client_response_fields(const http::header<false, MessageFields>& res,
                                 const ClientResponseHead& parts, Sink& sink) {
  const ConnectionNames connection_names(res);
  const bool rate_limited = !parts.rate_limit_policy.empty();
  for (const auto& f : res) {
    const std::string_view name = f.name_string();
    const http::field id = f.name();
    if (id == http::field::via) continue;  // rewritten below
    if (rate_limited && id == http::field::unknown &&
        (iequals(name, "ratelimit-policy") || iequals(name, "ratelimit"))) {
      continue;
    }
    if (id == http::field::content_length && parts.chunked) continue;
    if (is_hop_by_hop_field(id) || connection_names.names(name)) continue;
    sink.field(name, f.value());
  }
  if (parts.chunked) sink.field("Transfer-Encoding", "chunked");
  if (!parts.connection.empty()) sink.field("Connection", parts.connection);
  if (!parts.upgrade.empty()) {
    sink.field("Connection", "upgrade");
    sink.field("Upgrade", parts.upgrade);
  }
  sink.joined(res, http::field::via, "Via", "1.1 ringproxy");
  if (rate_limited) {
    sink.field("RateLimit-Policy", parts.rate_limit_policy);
    sink.field("RateLimit", parts.rate_limit);
  }
}

// Field lines as text.
struct TextSink {
  std::string& out;
  void field(std::string_view name, std::string_view value) { append_field(out, name, value); }
  void joined(const MessageFields& fields, http::field id, std::string_view name,
              std::string_view tail) {
    append_joined(out, fields, id, name, tail);
  }
};

// Fields with lower-case names, their bytes in one string reserved beforehand for all of them
// (the views into it stay valid).
struct FieldSink {
  std::string& bytes;
  std::vector<FieldView>& out;
  std::string_view put_lower(std::string_view name) {
    const std::size_t at = bytes.size();
    bytes.append(name);
    char* const p = bytes.data() + at;
    for (std::size_t i = 0; i < name.size(); ++i) {
      if (p[i] >= 'A' && p[i] <= 'Z') p[i] = static_cast<char>(p[i] - 'A' + 'a');
    }
    return {p, name.size()};
  }
  std::string_view put(std::string_view value) {
    const std::size_t at = bytes.size();
    bytes.append(value);
    return {bytes.data() + at, value.size()};
  }
  void field(std::string_view name, std::string_view value) {
    const std::string_view n = put_lower(name);
    out.push_back({n, put(value)});
  }
  void joined(const MessageFields& fields, http::field id, std::string_view name,
              std::string_view tail) {
    const std::string_view n = put_lower(name);
    const std::size_t at = bytes.size();
    for (const auto& f : fields) {
      if (f.name() == id) append_value(bytes, f.value());
    }
    bytes.append(tail);
    out.push_back({n, {bytes.data() + at, bytes.size() - at}});
  }
};

}  // namespace

void write_client_response_head(const http::header<false, MessageFields>& res,
                                const ClientResponseHead& parts, std::string& out) {
  out.clear();
  out.reserve(kResponseHeadRoom);  // a fresh string (an HTTP/2 exchange's) grows once
  char code[4];
  const unsigned status = res.result_int();
  code[0] = static_cast<char>('0' + status / 100 % 10);
  code[1] = static_cast<char>('0' + status / 10 % 10);
  code[2] = static_cast<char>('0' + status % 10);
  code[3] = ' ';
  std::string_view reason = res.reason();
  if (reason.empty()) reason = http::obsolete_reason(res.result());
  out.append("HTTP/1.1 ").append(code, 4).append(reason).append("\r\n");
  TextSink sink{out};
  emit_client_response_fields(res, parts, sink);
  out.append("\r\n");
}

void write_client_response_fields(const http::header<false, MessageFields>& res,
                                  const ClientResponseHead& parts, std::string& bytes,
                                  std::vector<FieldView>& out) {
  bytes.clear();
  out.clear();
  // Room for every field the sink may write: no reallocation moves the bytes under the views.
  std::size_t room = parts.rate_limit_policy.size() + parts.rate_limit.size() +
                     parts.connection.size() + parts.upgrade.size() + 128;
  for (const auto& f : res) room += f.name_string().size() + f.value().size() + 2;
  bytes.reserve(room);
  FieldSink sink{bytes, out};
  emit_client_response_fields(res, parts, sink);
}

}  // namespace ringproxy
