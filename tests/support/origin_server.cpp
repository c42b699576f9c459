#include "support/origin_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/optional.hpp>

namespace ringproxy::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// kPatternPiece + 26 pattern bytes, so that a piece may start at any offset modulo 26.
const std::array<char, kPatternPiece + 26>& pattern_table() {
  static const auto table = [] {
    std::array<char, kPatternPiece + 26> t{};
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = pattern_byte(i);
    return t;
  }();
  return table;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// What the query string asks for.
struct Query {
  std::optional<int> status;
  std::uint64_t delay_ms = 0;
  std::optional<std::uint64_t> bytes;
  bool chunked = false;
  bool truncate = false;
  bool close = false;
  std::uint64_t drip_ms = 0;
  std::optional<std::uint64_t> answer_after;
  std::optional<std::uint64_t> hints_after;
};

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

Query parse_query(std::string_view query) {
  Query q;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    auto key = pair.substr(0, eq);
    auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (key == "status") {
      auto s = to_u64(value);
      if (s >= 100 && s <= 999) q.status = static_cast<int>(s);
    } else if (key == "delay_ms") {
      q.delay_ms = to_u64(value);
    } else if (key == "bytes") {
      q.bytes = to_u64(value);
    } else if (key == "chunked") {
      q.chunked = value != "0";
    } else if (key == "truncate") {
      q.truncate = value != "0";
    } else if (key == "close") {
      q.close = value != "0";
    } else if (key == "drip_ms") {
      q.drip_ms = to_u64(value);
    } else if (key == "answer_after") {
      q.answer_after = to_u64(value);
    } else if (key == "hints_after") {
      q.hints_after = to_u64(value);
    }
  }
  return q;
}

bool status_has_body(int status) {
  return !(status < 200 || status == 204 || status == 304);
}

std::string_view reason_for(int status) {
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  if (reason.empty() || reason.front() == '<') return "Unknown";
  return {reason.data(), reason.size()};
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// Per-connection state reused across the requests of the connection.
struct ConnectionBuffers {
  beast::flat_buffer read;
  std::vector<char> body;
  std::string head;
  std::string text;
  char chunk_line[24];
  ConnectionBuffers() { read.reserve(8 * 1024); }
  // Beast reads at most the buffer's free capacity per read, so a body is read with 64 KiB of
  // room; both are allocated on the first request that has a body.
  char* body_buffer() {
    if (body.empty()) {
      body.resize(kPatternPiece);
      read.reserve(kPatternPiece);
    }
    return body.data();
  }
};

// Bounds one response body: where its bytes come from and how they are framed.
struct BodyPlan {
  const char* text = nullptr;  // nullptr: the pattern
  std::uint64_t length = 0;
  bool chunked = false;
  bool truncate = false;
  std::uint64_t drip_ms = 0;
};

}  // namespace

std::uint64_t fnv1a64(const void* data, std::size_t size, std::uint64_t hash) {
  auto p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t pattern_fnv1a64(std::uint64_t bytes) {
  std::uint64_t hash = kFnv1a64Offset;
  for (std::uint64_t off = 0; off < bytes;) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kPatternPiece, bytes - off));
    hash = fnv1a64(pattern_at(off), n, hash);
    off += n;
  }
  return hash;
}

std::string fnv_hex(std::uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

const char* pattern_at(std::uint64_t offset) {
  return pattern_table().data() + offset % 26;
}

std::string pattern_string(std::size_t bytes) {
  std::string s(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) s[i] = pattern_byte(i);
  return s;
}

std::string find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

std::size_t count_header(const HeaderList& headers, std::string_view name) {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const auto& f) { return iequals(f.first, name); }));
}

// The server's state; coroutines hold a raw pointer to it, which is safe because stop() destroys
// every coroutine (by destroying the io_contexts) before the Impl can go away.
struct OriginServer::Impl {
  using Socket = tcp::socket;
  using Request = http::request_parser<http::buffer_body>;

  Options options_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::size_t next_context_ = 0;  // accept loop only

  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> open_{0};
  std::atomic<int> health_status_{200};
  // Health checks answered, and the statuses scripted for the next ones (under health_mutex_).
  std::atomic<std::size_t> health_checks_{0};
  std::mutex health_mutex_;
  std::deque<int> health_script_;
  std::vector<std::chrono::steady_clock::time_point> health_times_;
  std::atomic<std::int64_t> early_answer_ns_{0};  // steady_clock, when the last one was sent

  mutable std::mutex last_mutex_;
  RecordedRequest last_;

  std::mutex stop_mutex_;
  bool stopped_ = false;

  explicit Impl(Options options) : options_(std::move(options)) {}

  // The status of one health check: the next scripted one, else health_status_; counted.
  int next_health_status() {
    std::lock_guard lock(health_mutex_);
    int status = health_status_.load(std::memory_order_relaxed);
    if (!health_script_.empty()) {
      status = health_script_.front();
      health_script_.pop_front();
    }
    health_times_.push_back(std::chrono::steady_clock::now());
    health_checks_.fetch_add(1);
    return status;
  }

  void start() {
    int n = std::max(1, options_.threads);
    for (int i = 0; i < n; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    acceptor_ = std::make_unique<tcp::acceptor>(*contexts_[0]);
    tcp::endpoint endpoint(asio::ip::make_address(options_.host), options_.port);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(*contexts_[0], accept_loop(), asio::detached);
    for (auto& context : contexts_) threads_.emplace_back([c = context.get()] { c->run(); });
  }

  void stop() {
    std::lock_guard lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& context : contexts_) context->stop();
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
    boost::system::error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    acceptor_.reset();
    guards_.clear();
    // Destroying a context destroys its suspended coroutines, which closes their sockets.
    while (!contexts_.empty()) contexts_.pop_back();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto& context = *contexts_[next_context_++ % contexts_.size()];
      Socket socket(context);
      auto [ec] = co_await acceptor_->async_accept(socket, kUseTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
        // Out of descriptors or a connection reset before accept: back off briefly.
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
        co_await timer.async_wait(kUseTuple);
        continue;
      }
      accepted_.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      asio::co_spawn(context, serve(std::move(socket)), asio::detached);
    }
  }

  static asio::awaitable<void> sleep_ms(std::uint64_t ms) {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await timer.async_wait(kUseTuple);
  }

  static void close_socket(Socket& socket) {
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  void record(const Request& parser, std::uint64_t body_bytes, std::uint64_t body_fnv) {
    if (!options_.record_requests) return;
    const auto& req = parser.get();
    RecordedRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.version = static_cast<int>(req.version());
    for (const auto& field : req)
      r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    r.body_bytes = body_bytes;
    r.body_fnv1a64 = body_fnv;
    std::lock_guard lock(last_mutex_);
    last_ = std::move(r);
  }

  // Appends the status line and the headers common to every response (without the final CRLF).
  void begin_head(std::string& head, int status, int version, bool keep_alive) {
    head.clear();
    head += "HTTP/1.1 ";
    append_uint(head, static_cast<std::uint64_t>(status));
    head += ' ';
    head += reason_for(status);
    head += "\r\nContent-Type: text/plain\r\nX-Origin: ";
    head += options_.name;
    head += "\r\n";
    if (!keep_alive)
      head += "Connection: close\r\n";
    else if (version < 11)
      head += "Connection: keep-alive\r\n";
  }

  static void append_framing(std::string& head, const BodyPlan& body) {
    if (body.chunked) {
      head += "Transfer-Encoding: chunked\r\n";
    } else {
      head += "Content-Length: ";
      append_uint(head, body.length);
      head += "\r\n";
    }
  }

  // Writes head (already complete) and then the body; false when the connection must close.
  static asio::awaitable<bool> write_response(Socket& socket, ConnectionBuffers& bufs,
                                              const BodyPlan* body) {
    if (body == nullptr) {
      auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bufs.head), kUseTuple);
      co_return !ec;
    }
    std::uint64_t to_send = body->truncate ? body->length / 2 : body->length;
    std::uint64_t offset = 0;
    bool first = true;
    while (first || offset < to_send) {
      auto piece =
          static_cast<std::size_t>(std::min<std::uint64_t>(kPatternPiece, to_send - offset));
      const char* data = body->text ? body->text + offset : pattern_at(offset);
      bool last = offset + piece == to_send;
      std::array<asio::const_buffer, 5> buffers;
      std::size_t count = 0;
      if (first) buffers[count++] = asio::buffer(bufs.head);
      if (body->chunked && piece > 0) {
        int len = std::snprintf(bufs.chunk_line, sizeof bufs.chunk_line, "%zx\r\n", piece);
        buffers[count++] = asio::buffer(bufs.chunk_line, static_cast<std::size_t>(len));
      }
      if (piece > 0) buffers[count++] = asio::buffer(data, piece);
      if (body->chunked && piece > 0) buffers[count++] = asio::buffer("\r\n", 2);
      if (body->chunked && last && !body->truncate) buffers[count++] = asio::buffer("0\r\n\r\n", 5);
      auto [ec, n] = co_await asio::async_write(
          socket, std::span<const asio::const_buffer>(buffers.data(), count), kUseTuple);
      if (ec) co_return false;
      offset += piece;
      first = false;
      if (body->drip_ms > 0 && offset < to_send) co_await sleep_ms(body->drip_ms);
    }
    co_return !body->truncate;
  }

  // POST/PUT /echo: streams the request body back as it arrives, one 64 KiB piece at a time.
  asio::awaitable<bool> serve_echo(Socket& socket, ConnectionBuffers& bufs, Request& parser,
                                   const Query& query, bool keep_alive) {
    auto& req = parser.get();
    int status = query.status.value_or(200);
    if (query.delay_ms > 0) co_await sleep_ms(query.delay_ms);
    auto length = parser.content_length();
    bool chunked = !length && parser.chunked() && req.version() >= 11;
    bool closing = !keep_alive || (!length && !chunked && !parser.is_done());
    begin_head(bufs.head, status, static_cast<int>(req.version()), !closing);
    if (chunked)
      bufs.head += "Transfer-Encoding: chunked\r\n";
    else if (length || parser.is_done()) {
      bufs.head += "Content-Length: ";
      append_uint(bufs.head, length.value_or(0));
      bufs.head += "\r\n";
    }
    bufs.head += "\r\n";
    {
      auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bufs.head), kUseTuple);
      if (ec) co_return false;
    }
    std::uint64_t bytes = 0;
    std::uint64_t hash = kFnv1a64Offset;
    char* buffer = bufs.body_buffer();
    auto& body = req.body();
    while (!parser.is_done()) {
      body.data = buffer;
      body.size = kPatternPiece;
      auto [ec, n] = co_await http::async_read(socket, bufs.read, parser, kUseTuple);
      if (ec && ec != http::error::need_buffer) co_return false;
      std::size_t got = kPatternPiece - body.size;
      if (got == 0) continue;
      bytes += got;
      hash = fnv1a64(buffer, got, hash);
      std::array<asio::const_buffer, 3> buffers;
      std::size_t count = 0;
      if (chunked) {
        int len = std::snprintf(bufs.chunk_line, sizeof bufs.chunk_line, "%zx\r\n", got);
        buffers[count++] = asio::buffer(bufs.chunk_line, static_cast<std::size_t>(len));
      }
      buffers[count++] = asio::buffer(buffer, got);
      if (chunked) buffers[count++] = asio::buffer("\r\n", 2);
      auto [wec, wn] = co_await asio::async_write(
          socket, std::span<const asio::const_buffer>(buffers.data(), count), kUseTuple);
      if (wec) co_return false;
    }
    if (chunked) {
      auto [ec, n] = co_await asio::async_write(socket, asio::buffer("0\r\n\r\n", 5), kUseTuple);
      if (ec) co_return false;
    }
    record(parser, bytes, hash);
    co_return !closing;
  }

  // answer_after=N: reads N body bytes (none for 0), answers status= (default 413) with
  // Connection: close before the body is through, then reads and drops the rest (a lingering
  // close, so that the answer is not lost to a reset) for up to 10 s.
  asio::awaitable<void> serve_early_answer(Socket& socket, ConnectionBuffers& bufs, Request& parser,
                                           const Query& query) {
    auto& body = parser.get().body();
    char* buffer = bufs.body_buffer();
    std::uint64_t read = 0;
    const std::uint64_t wanted = *query.answer_after;
    while (read < wanted && !parser.is_done()) {
      body.data = buffer;
      body.size = static_cast<std::size_t>(std::min<std::uint64_t>(kPatternPiece, wanted - read));
      auto [ec, n] = co_await http::async_read_some(socket, bufs.read, parser, kUseTuple);
      if (ec && ec != http::error::need_buffer) co_return;
      read += static_cast<std::size_t>(std::min<std::uint64_t>(kPatternPiece, wanted - read)) -
              body.size;
    }
    begin_head(bufs.head, query.status.value_or(413), 11, false);
    bufs.head += "Content-Length: 13\r\n\r\nearly answer\n";
    early_answer_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count());
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(bufs.head), kUseTuple);
    if (wec) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(10));
    timer.async_wait([&socket](boost::system::error_code ec) {
      if (!ec) socket.cancel(ec);
    });
    for (;;) {
      auto [ec, n] =
          co_await socket.async_read_some(asio::buffer(buffer, kPatternPiece), kUseTuple);
      if (ec) break;
    }
    timer.cancel();
  }

  void build_echo_text(std::string& text, const Request& parser, std::uint64_t body_bytes,
                       std::uint64_t body_fnv) {
    const auto& req = parser.get();
    text.clear();
    text += "origin: ";
    text += options_.name;
    text += "\nmethod: ";
    text += req.method_string();
    text += "\ntarget: ";
    text += req.target();
    text += "\nbody-bytes: ";
    append_uint(text, body_bytes);
    text += "\nbody-fnv: ";
    text += fnv_hex(body_fnv);
    text += '\n';
    for (const auto& field : req) {
      text += "header: ";
      text += field.name_string();
      text += ": ";
      text += field.value();
      text += '\n';
    }
  }

  // A WebSocket echo: every message back as it came (text or binary); Beast answers pings and
  // the close handshake. The 101 carries X-Origin.
  asio::awaitable<void> serve_websocket(Socket socket, Request& parser) {
    websocket::stream<Socket> ws(std::move(socket));
    const std::string name = options_.name;
    ws.set_option(websocket::stream_base::decorator(
        [name](websocket::response_type& res) { res.set("X-Origin", name); }));
    ws.read_message_max(64 * 1024 * 1024);
    auto [ec] = co_await ws.async_accept(parser.get(), kUseTuple);
    if (ec) co_return;
    beast::flat_buffer buffer;
    for (;;) {
      auto [rec, n] = co_await ws.async_read(buffer, kUseTuple);
      if (rec) co_return;  // closed (Beast answered the close frame) or gone
      ws.text(ws.got_text());
      auto [wec, wn] = co_await ws.async_write(buffer.data(), kUseTuple);
      if (wec) co_return;
      buffer.consume(buffer.size());
    }
  }

  asio::awaitable<void> serve(Socket socket) {
    open_.fetch_add(1, std::memory_order_relaxed);
    struct OpenCount {
      std::atomic<std::size_t>& open;
      ~OpenCount() { open.fetch_sub(1, std::memory_order_relaxed); }
    } open_count{open_};

    ConnectionBuffers bufs;
    std::optional<Request> parser;
    for (;;) {
      parser.emplace();
      parser->body_limit(boost::none);
      parser->header_limit(1024 * 1024);
      {
        auto [ec, n] = co_await http::async_read_header(socket, bufs.read, *parser, kUseTuple);
        if (ec) {
          if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
              ec != http::error::end_of_stream && ec != http::error::partial_message) {
            static constexpr std::string_view kBadRequest =
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            co_await asio::async_write(socket, asio::buffer(kBadRequest), kUseTuple);
          }
          close_socket(socket);
          co_return;
        }
      }
      requests_.fetch_add(1, std::memory_order_relaxed);
      auto& req = parser->get();
      int version = static_cast<int>(req.version());
      bool keep_alive = req.keep_alive();
      bool is_head = req.method() == http::verb::head;
      std::string_view target = req.target();
      auto qmark = target.find('?');
      std::string_view path = target.substr(0, qmark);
      Query query = parse_query(qmark == std::string_view::npos ? std::string_view{}
                                                                : target.substr(qmark + 1));

      if (!parser->is_done() && iequals(req[http::field::expect], "100-continue") &&
          version >= 11) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(kContinue), kUseTuple);
        if (ec) {
          close_socket(socket);
          co_return;
        }
      }

      if (path == "/ws" && !query.status && websocket::is_upgrade(req)) {
        record(*parser, 0, kFnv1a64Offset);  // the upgrade request, as last_request()
        co_await serve_websocket(std::move(socket), *parser);
        co_return;
      }

      if (query.answer_after && !parser->is_done()) {
        co_await serve_early_answer(socket, bufs, *parser, query);
        close_socket(socket);
        co_return;
      }

      if (path == "/echo" && !query.close &&
          (req.method() == http::verb::post || req.method() == http::verb::put)) {
        bool again = co_await serve_echo(socket, bufs, *parser, query, keep_alive);
        if (!again) {
          close_socket(socket);
          co_return;
        }
        continue;
      }

      // Consume the body streaming, counting and hashing it.
      std::uint64_t body_bytes = 0;
      std::uint64_t body_fnv = kFnv1a64Offset;
      if (!parser->is_done()) {
        char* buffer = bufs.body_buffer();
        auto& body = req.body();
        std::optional<std::uint64_t> hints_at = query.hints_after;
        while (!parser->is_done()) {
          if (hints_at && body_bytes >= *hints_at) {
            hints_at.reset();
            static constexpr std::string_view kHints =
                "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
            co_await asio::async_write(socket, asio::buffer(kHints), kUseTuple);
          }
          body.data = buffer;
          body.size = hints_at ? static_cast<std::size_t>(
                                     std::min<std::uint64_t>(kPatternPiece, *hints_at - body_bytes))
                               : kPatternPiece;
          const std::size_t room = body.size;
          // Before the hints, no read past their byte: async_read would wait for more.
          auto [ec, n] = hints_at
                             ? co_await http::async_read_some(socket, bufs.read, *parser, kUseTuple)
                             : co_await http::async_read(socket, bufs.read, *parser, kUseTuple);
          if (ec && ec != http::error::need_buffer) {
            close_socket(socket);
            co_return;
          }
          std::size_t got = room - body.size;
          body_bytes += got;
          body_fnv = fnv1a64(buffer, got, body_fnv);
        }
      }
      record(*parser, body_bytes, body_fnv);

      if (query.close) {
        close_socket(socket);
        co_return;
      }
      if (query.delay_ms > 0) co_await sleep_ms(query.delay_ms);

      int status = 200;
      BodyPlan plan;
      if (path == "/healthz" && (req.method() == http::verb::get || is_head)) {
        status = next_health_status();
        plan.text = "ok";
        plan.length = 2;
      } else {
        status = query.status.value_or(200);
        if (query.bytes) {
          plan.length = *query.bytes;
        } else {
          build_echo_text(bufs.text, *parser, body_bytes, body_fnv);
          plan.text = bufs.text.data();
          plan.length = bufs.text.size();
        }
        plan.chunked = query.chunked && version >= 11;
        plan.truncate = query.truncate;
        plan.drip_ms = query.drip_ms;
      }
      bool has_body = status_has_body(status);
      begin_head(bufs.head, status, version, keep_alive);
      if (has_body) append_framing(bufs.head, plan);
      bufs.head += "\r\n";
      bool again = co_await write_response(socket, bufs, has_body && !is_head ? &plan : nullptr);
      if (!again || !keep_alive) {
        close_socket(socket);
        co_return;
      }
    }
  }
};

OriginServer::OriginServer(Options options) : impl_(std::make_shared<Impl>(std::move(options))) {
  impl_->start();
}

OriginServer::~OriginServer() {
  stop();
}

std::uint16_t OriginServer::port() const {
  return impl_->port_;
}

const std::string& OriginServer::name() const {
  return impl_->options_.name;
}

std::string OriginServer::address() const {
  const auto& host = impl_->options_.host;
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->port_);
}

void OriginServer::stop() {
  impl_->stop();
}

std::size_t OriginServer::requests_seen() const {
  return impl_->requests_.load();
}

std::size_t OriginServer::connections_accepted() const {
  return impl_->accepted_.load();
}

std::size_t OriginServer::connections_open() const {
  return impl_->open_.load();
}

RecordedRequest OriginServer::last_request() const {
  std::lock_guard lock(impl_->last_mutex_);
  return impl_->last_;
}

std::chrono::steady_clock::time_point OriginServer::last_early_answer() const {
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(impl_->early_answer_ns_.load()));
}

void OriginServer::set_health_status(int status) {
  impl_->health_status_.store(status);
}

std::size_t OriginServer::health_checks_seen() const {
  return impl_->health_checks_.load();
}

std::vector<std::chrono::steady_clock::time_point> OriginServer::health_check_times() const {
  std::lock_guard lock(impl_->health_mutex_);
  return impl_->health_times_;
}

void OriginServer::script_health_checks(std::vector<int> statuses) {
  std::lock_guard lock(impl_->health_mutex_);
  impl_->health_script_.assign(statuses.begin(), statuses.end());
}

}  // namespace ringproxy::test
