// An HTTP/2 client session on libnghttp2 (see h2_client_session.hpp).
#include "http/h2_client_session.hpp"

#include <algorithm>
#include <cstring>

namespace ringproxy {

namespace {
// Each stream may hold this much of the backend's response unrelayed; the connection
// as a whole, kConnectionWindow.
constexpr std::int32_t kStreamWindow = 256 * 1024;
constexpr std::int32_t kConnectionWindow = 16 * 1024 * 1024;
constexpr std::size_t kMaxResponseFieldBytes = 64 * 1024;
constexpr std::size_t kOutputBatch = 64 * 1024;      // bytes framed per output() at most
constexpr std::size_t kUploadCompactAt = 64 * 1024;  // framed upload bytes dropped from the front
constexpr std::uint32_t kAssumedMaxStreams = 100;    // until the backend's SETTINGS say

H2Stream* stream_of(nghttp2_session* session, std::int32_t id) {
  return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(session, id));
}

void notify(const std::function<void()>& f) {
  if (f) f();
}
}  // namespace

struct H2ClientSession::Access {
  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Stream* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    s->field_bytes += namelen + valuelen + 32;
    if (s->field_bytes > kMaxResponseFieldBytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (s->head) {
      if (!n.starts_with(':')) s->trailers.emplace_back(n, v);
    } else if (n == ":status") {
      s->status = 0;
      for (char c : v) s->status = s->status * 10 + (c - '0');
    } else if (!n.starts_with(':')) {
      s->headers.emplace_back(n, v);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto* self = static_cast<H2ClientSession*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      self->going_away_ = true;
      self->last_stream_id_ = frame->goaway.last_stream_id;
      return 0;
    }
    if (frame->hd.type == NGHTTP2_PING) {
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) ++self->pings_acked_;
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    H2Stream* s = stream_of(session, frame->hd.stream_id);
    if (s == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && !s->head) {
      if (s->status >= 200) {
        s->head = true;
      } else {
        s->headers.clear();  // an interim response: the final one follows
        s->field_bytes = 0;
      }
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) s->ended = true;
    notify(s->on_response);
    return 0;
  }

  static int on_data(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                     void*) {
    H2Stream* s = stream_of(session, id);
    if (s == nullptr) {
      nghttp2_session_consume(session, id, len);  // nobody reads it: keep the windows open
      return 0;
    }
    s->body.append(reinterpret_cast<const char*>(data), len);
    notify(s->on_response);
    return 0;
  }

  static void close(H2ClientSession& self, H2Stream& s, std::uint32_t error, bool refused) {
    s.closed = true;
    s.error = error;
    s.refused = refused;
    self.detach(s);
    notify(s.on_response);
    notify(s.on_upload);
  }

  static int on_stream_close(nghttp2_session* session, int32_t id, uint32_t error, void* user) {
    auto* self = static_cast<H2ClientSession*>(user);
    std::erase_if(self->cancelled_, [id](const auto& c) { return c->id == id; });
    H2Stream* s = stream_of(session, id);
    if (s == nullptr) return 0;
    close(*static_cast<H2ClientSession*>(user), *s, error,
          error == NGHTTP2_REFUSED_STREAM && !s->head);
    return 0;
  }

  static int on_frame_not_send(nghttp2_session* session, const nghttp2_frame* frame, int,
                               void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Stream* s = stream_of(session, frame->hd.stream_id);
    if (s != nullptr) close(*static_cast<H2ClientSession*>(user), *s, NGHTTP2_REFUSED_STREAM, true);
    return 0;
  }

  // The body's end: END_STREAM on this DATA frame, or on a trailing HEADERS submitted now
  // (nghttp2 sends it after the frame; submitting from this callback is its documented use).
  static void end_upload(nghttp2_session* session, int32_t id, H2Stream& s, uint32_t* flags) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s.upload_trailers.empty()) return;
    std::vector<nghttp2_nv> nv;
    nv.reserve(s.upload_trailers.size());
    for (auto& [name, value] : s.upload_trailers) {
      nv.push_back({reinterpret_cast<uint8_t*>(name.data()),
                    reinterpret_cast<uint8_t*>(value.data()), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    if (nghttp2_submit_trailer(session, id, nv.data(), nv.size()) == 0) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }

  static ssize_t read_upload(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                             uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* s = static_cast<H2Stream*>(source->ptr);
    const std::size_t left = s->upload.size() - s->upload_taken;
    if (left == 0) {
      if (s->upload_end) {
        end_upload(session, id, *s, flags);
        return 0;
      }
      s->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    const std::size_t n = std::min(left, length);
    std::memcpy(buf, s->upload.data() + s->upload_taken, n);
    s->upload_taken += n;
    if (s->upload_taken == s->upload.size()) {
      s->upload.clear();
      s->upload_taken = 0;
      if (s->upload_end) end_upload(session, id, *s, flags);
    } else if (s->upload_taken >= kUploadCompactAt) {
      // The client's reads keep appending while frames take from the front: drop what was
      // framed, or the string grows with the whole body.
      s->upload.erase(0, s->upload_taken);
      s->upload_taken = 0;
    }
    notify(s->on_upload);
    return static_cast<ssize_t>(n);
  }
};

H2ClientSession::H2ClientSession() {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, Access::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, Access::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, Access::on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, Access::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, Access::on_frame_not_send);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, kAssumedMaxStreams);
  nghttp2_session_client_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(kMaxResponseFieldBytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

H2ClientSession::~H2ClientSession() {
  fail_all();
  nghttp2_session_del(session_);
}

bool H2ClientSession::submit(const std::shared_ptr<H2Stream>& stream,
                             const std::vector<nghttp2_nv>& nva, bool with_body) {
  nghttp2_data_provider provider{};
  provider.source.ptr = stream.get();
  provider.read_callback = Access::read_upload;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                                 with_body ? &provider : nullptr, stream.get());
  if (id < 0) return false;
  stream->id = id;
  streams_.push_back(stream);
  return true;
}

bool H2ClientSession::receive(const std::uint8_t* data, std::size_t n) {
  return nghttp2_session_mem_recv(session_, data, n) == static_cast<ssize_t>(n);
}

std::string_view H2ClientSession::output() {
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
    while (out_.size() < kOutputBatch) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
  }
  return std::string_view(out_).substr(out_sent_);
}

void H2ClientSession::sent(std::size_t n) {
  out_sent_ += n;
}

void H2ClientSession::consume(H2Stream& stream, std::size_t n) {
  if (n > 0) nghttp2_session_consume(session_, stream.id, n);
}

void H2ClientSession::resume(H2Stream& stream) {
  if (!stream.deferred || stream.closed) return;
  stream.deferred = false;
  nghttp2_session_resume_data(session_, stream.id);
}

void H2ClientSession::cancel(H2Stream& stream) {
  stream.on_response = nullptr;
  stream.on_upload = nullptr;
  if (stream.closed || stream.id < 0) return;
  for (const auto& s : streams_) {
    if (s.get() == &stream) cancelled_.push_back(s);  // the data source points to it
  }
  detach(stream);
  stream.closed = true;
  stream.upload_end = true;
  nghttp2_session_set_stream_user_data(session_, stream.id, nullptr);
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_CANCEL);
}

void H2ClientSession::detach(H2Stream& stream) {
  std::erase_if(streams_, [&stream](const auto& s) { return s.get() == &stream; });
}

void H2ClientSession::fail_all() {
  const std::vector<std::shared_ptr<H2Stream>> streams = std::move(streams_);
  streams_.clear();
  for (const auto& s : streams) {
    nghttp2_session_set_stream_user_data(session_, s->id, nullptr);
    // Past the GOAWAY's last stream id, the backend promised it never processed it.
    const bool refused = going_away_ && s->id > last_stream_id_ && !s->head;
    s->closed = true;
    s->error = NGHTTP2_INTERNAL_ERROR;
    s->refused = refused;
    notify(s->on_response);
    notify(s->on_upload);
  }
}

bool H2ClientSession::ping() {
  return nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr) == 0;
}

bool H2ClientSession::alive() const {
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

std::uint32_t H2ClientSession::max_streams() const {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

bool H2ClientSession::ids_left() const {
  return nghttp2_session_get_next_stream_id(session_) < (1U << 30);
}

}  // namespace ringproxy
