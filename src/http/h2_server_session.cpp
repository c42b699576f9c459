// One HTTP/2 server session over libnghttp2 (see h2_server_session.hpp).
#include "http/h2_server_session.hpp"

#include <cstdlib>
#include <cstring>
#include <memory>

namespace ringproxy {

namespace {

H2ServerSession& owner(void* user_data) {
  return *static_cast<H2ServerSession*>(user_data);
}

// nghttp2's allocations, each with its size in front, counted in the session.
constexpr std::size_t kPrefix = alignof(std::max_align_t);

void* counted_malloc(std::size_t size, void* ud) {
  auto* p = static_cast<char*>(std::malloc(size + kPrefix));
  if (p == nullptr) return nullptr;
  std::memcpy(p, &size, sizeof(size));
  owner(ud).memory_ += size;
  return p + kPrefix;
}
void counted_free(void* ptr, void* ud) {
  if (ptr == nullptr) return;
  char* p = static_cast<char*>(ptr) - kPrefix;
  std::size_t size = 0;
  std::memcpy(&size, p, sizeof(size));
  owner(ud).memory_ -= size;
  std::free(p);
}
void* counted_calloc(std::size_t n, std::size_t size, void* ud) {
  void* p = counted_malloc(n * size, ud);
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}
void* counted_realloc(void* ptr, std::size_t size, void* ud) {
  if (ptr == nullptr) return counted_malloc(size, ud);
  std::size_t old = 0;
  std::memcpy(&old, static_cast<char*>(ptr) - kPrefix, sizeof(old));
  void* p = counted_malloc(size, ud);
  if (p == nullptr) return nullptr;
  std::memcpy(p, ptr, old < size ? old : size);
  counted_free(ptr, ud);
  return p;
}

int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* ud) {
  H2ServerSession& s = owner(ud);
  if (s.events_.on_frame_start(hd->type, hd->length, hd->flags, hd->stream_id)) return 0;
  s.flooded_ = true;
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    owner(ud).events_.on_request_begin(frame->hd.stream_id);
  }
  return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* ud) {
  owner(ud).events_.on_field(frame->hd.stream_id, {reinterpret_cast<const char*>(name), namelen},
                             {reinterpret_cast<const char*>(value), valuelen});
  return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
  H2ServerEvents& events = owner(ud).events_;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      events.on_request_head(frame->hd.stream_id, end_stream,
                             frame->headers.cat == NGHTTP2_HCAT_HEADERS);
      break;
    case NGHTTP2_DATA:
      if (end_stream) events.on_request_end(frame->hd.stream_id);
      break;
    default:
      break;
  }
  return 0;
}

int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                  const std::uint8_t* data, std::size_t len, void* ud) {
  // The connection's window opens at once; the stream's when the pipeline reads the bytes.
  nghttp2_session_consume_connection(session, len);
  owner(ud).events_.on_request_data(stream_id, data, len);
  return 0;
}

int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* ud) {
  owner(ud).events_.on_stream_close(stream_id, error_code);
  return 0;
}

ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                  std::uint32_t* flags, nghttp2_data_source*, void* ud) {
  bool eof = false;
  const long n = owner(ud).events_.read_response(stream_id, buf, length, &eof);
  if (n == H2ServerEvents::kDeferred) return NGHTTP2_ERR_DEFERRED;
  if (n < 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (eof && owner(ud).trailers_for_ == stream_id) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  owner(ud).trailers_for_ = 0;
  return static_cast<ssize_t>(n);
}

// nv: cleared and filled (nghttp2 copies the array when a frame is submitted, so it is reused).
void to_nv(std::string_view status, const std::vector<H2Field>& fields,
           std::vector<nghttp2_nv>& nv) {
  nv.clear();
  nv.reserve(fields.size() + 1);
  auto add = [&nv](std::string_view name, std::string_view value) {
    nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                  reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                  value.size(), NGHTTP2_NV_FLAG_NONE});
  };
  if (!status.empty()) add(":status", status);
  for (const H2Field& f : fields) add(f.name, f.value);
}

}  // namespace

H2ServerSession::H2ServerSession(H2ServerEvents& events, const H2SessionLimits& limits)
    : events_(events) {
  mem_ = nghttp2_mem{this, counted_malloc, counted_free, counted_calloc, counted_realloc};
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_option_set_max_continuations(opt, limits.max_continuations);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, limits.header_table);
  nghttp2_session_server_new3(&session_, cbs, this, opt, &mem_);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, limits.header_table},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, limits.enable_connect_protocol ? 1U : 0U},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
}

H2ServerSession::~H2ServerSession() {
  nghttp2_session_del(session_);
}

bool H2ServerSession::receive(const char* data, std::size_t n) {
  const ssize_t rv =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), n);
  if (rv >= 0) return alive();
  if (flooded_ || rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
    goaway(NGHTTP2_ENHANCE_YOUR_CALM, false);
  } else if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
    goaway(NGHTTP2_PROTOCOL_ERROR, false);
  }
  return false;
}

std::size_t H2ServerSession::send(std::string& out, std::size_t max) {
  const std::size_t before = out.size();
  while (out.size() < max) {
    const std::uint8_t* p = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &p);
    if (n <= 0) break;
    out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  return out.size() - before;
}

bool H2ServerSession::alive() const {
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

bool H2ServerSession::submit_head(std::int32_t stream_id, int status,
                                  const std::vector<H2Field>& fields, bool body) {
  const std::string code = std::to_string(status);
  std::vector<nghttp2_nv>& nv = nv_;
  to_nv(code, fields, nv);
  if (status < 200) {
    return nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, stream_id, nullptr, nv.data(),
                                  nv.size(), nullptr) == 0;
  }
  nghttp2_data_provider provider{};
  provider.read_callback = read_body;
  return nghttp2_submit_response(session_, stream_id, nv.data(), nv.size(),
                                 body ? &provider : nullptr) == 0;
}

bool H2ServerSession::submit_trailers(std::int32_t stream_id, const std::vector<H2Field>& fields) {
  std::vector<nghttp2_nv>& nv = nv_;
  to_nv({}, fields, nv);
  const bool ok = nghttp2_submit_trailer(session_, stream_id, nv.data(), nv.size()) == 0;
  if (ok) trailers_for_ = stream_id;
  return ok;
}

void H2ServerSession::resume(std::int32_t stream_id) {
  nghttp2_session_resume_data(session_, stream_id);
}

void H2ServerSession::reset(std::int32_t stream_id, std::uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
}

void H2ServerSession::consume(std::int32_t stream_id, std::size_t n) {
  nghttp2_session_consume_stream(session_, stream_id, n);
}

void H2ServerSession::goaway(std::uint32_t error_code, bool graceful) {
  if (going_away_ && (graceful || goaway_code_ != 0)) return;
  going_away_ = true;
  goaway_code_ = error_code;
  if (graceful) {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  } else {
    nghttp2_session_terminate_session(session_, error_code);
  }
}

}  // namespace ringproxy
