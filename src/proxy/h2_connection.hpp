// One HTTP/2 client connection: its nghttp2 session, and each stream taken through the
// HTTP/1.1 request pipeline as a DownstreamConnection<PipeStream> (docs/http2.md).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/h2_frame_cutter.hpp"
#include "http/h2_messages.hpp"
#include "http/h2_response_reader.hpp"
#include "http/h2_server_session.hpp"
#include "net/pipe_stream.hpp"
#include "net/tcp_stream.hpp"
#include "net/tls_stream.hpp"
#include "net/worker.hpp"
#include "policy/h2_flood_guard.hpp"
#include "proxy/request_plan.hpp"

namespace ringproxy {

template <class Stream>
class DownstreamConnection;

// Starts HTTP/2 on a connection: h2c with prior knowledge (early: the bytes already read, the
// preface's start) or after ALPN chose "h2". The connection counts itself from here on.
void start_h2_connection(Worker& worker, TcpStream stream, const ClientIdentity& client,
                         std::string_view early);
void start_h2_connection(Worker& worker, TlsStream stream, const ClientIdentity& client,
                         std::string_view early);

// The session of one HTTP/2 connection: reads frames into nghttp2, writes what it sends, and
// runs each request stream through the pipeline over a PipeStream; counts floods (GOAWAY
// ENHANCE_YOUR_CALM) and ends with GOAWAY on drain. Worker thread only; kept alive by its
// two coroutines (shared_from_this).
template <class Stream>
class H2Connection final : public DownstreamTask,
                           public H2ServerEvents,
                           public PipeEvents,
                           public std::enable_shared_from_this<H2Connection<Stream>> {
 public:
  H2Connection(Worker& worker, Stream stream, const ClientIdentity& client, std::string_view early);
  ~H2Connection();

  void start();
  void drain() override;
  void expire_if_due(std::chrono::steady_clock::time_point now) override;
  // Accepted on a listener a reload removed: GOAWAY, as on drain.
  void listener_closed(const boost::asio::ip::tcp::endpoint& listener) override;

  // H2ServerEvents (called from inside nghttp2).
  bool on_frame_start(std::uint8_t type, std::size_t length, std::uint8_t flags,
                      std::int32_t stream_id) override;
  void on_request_begin(std::int32_t stream_id) override;
  void on_field(std::int32_t stream_id, std::string_view name, std::string_view value) override;
  void on_request_head(std::int32_t stream_id, bool end_stream, bool trailers) override;
  void on_request_data(std::int32_t stream_id, const std::uint8_t* data, std::size_t n) override;
  void on_request_end(std::int32_t stream_id) override;
  void on_stream_close(std::int32_t stream_id, std::uint32_t error_code) override;
  long read_response(std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                     bool* eof) override;

  // PipeEvents (called from the streams' pipelines).
  void request_bytes_read(std::uint32_t id, std::size_t n) override;
  void response_bytes(std::uint32_t id) override;
  bool response_head(std::uint32_t id, int status, const std::vector<FieldView>& fields,
                     std::uint64_t length) override;

 private:
  using Clock = std::chrono::steady_clock;
  // One request stream: its pipe to the pipeline and the response read back from it.
  struct Exchange {
    std::shared_ptr<PipeState> pipe;
    std::optional<H2ResponseReader> response;
    std::size_t uncredited = 0;  // DATA bytes buffered whose window is not open again
    bool chunked = false;        // the body goes chunk-framed to the pipeline
    bool grpc = false;
    bool head_sent = false;      // the final response head was submitted
    bool stream_closed = false;  // nghttp2 closed the stream
    bool refused = false;
    bool orphan = false;   // counted in orphans_
    bool discard = false;  // answered already (a gRPC status): the pipeline's bytes are dropped
    std::string trailers;  // request trailer lines, for a chunk-framed body
    // WebSocket over HTTP/2 (RFC 8441, docs/http2.md): the key sent to the backend; after
    // its 101 (tunnel), the pipe's bytes both ways are the tunnel's, carried as DATA.
    std::string ws_key;
    bool websocket = false;   // an extended CONNECT taken as a WebSocket upgrade
    bool tunnel = false;      // the backend switched: 200 sent, DATA is the tunnel's bytes
    bool ws_refused = false;  // the backend answered otherwise: the client's DATA is dropped
    bool eof_sent = false;    // the tunnel's END_STREAM went to nghttp2
  };

  boost::asio::awaitable<void> read_loop();
  // The client's bytes into the session one frame at a time; false when the session ended
  // (an error, or a flood: GOAWAY ENHANCE_YOUR_CALM).
  bool take_input(const char* data, std::size_t n);
  // Starts the pipelines of the streams opened since the last call (outside nghttp2).
  void start_streams();
  boost::asio::awaitable<void> write_loop();
  void wake_writer() { writer_.notify(); }
  // A stream's head or DATA just came: every kPackBatch such events, packs the frames nghttp2
  // has ready into packed_ at once, while what they are made of is in the cache; wakes the
  // writer. Never from inside nghttp2's callbacks, and last in an event: the stream's
  // exchange may end in it.
  void pack_soon();
  // The pipeline's response so far: heads submitted, DATA resumed, a broken one reset.
  void pump(std::int32_t id, Exchange& x);
  void start_pipeline(std::int32_t id, Exchange& x, bool end_stream);
  // Drops the exchange once both nghttp2 and its pipeline are done with it.
  void settle(std::int32_t id);
  // The exchange of a stream, or nullptr; the last one found is remembered (a stream's frames
  // and pipe events come in runs), and forgotten when its exchange goes.
  Exchange* find_exchange(std::int32_t id) {
    if (id != last_id_ || last_ == nullptr) {
      const auto it = exchanges_.find(id);
      if (it == exchanges_.end()) return nullptr;
      last_id_ = id;
      last_ = &it->second;  // unordered_map elements keep their address
    }
    return last_;
  }
  void refuse_stream(std::int32_t id, std::uint32_t error_code);
  void close();
  // A gRPC request the proxy itself failed (status): a trailers-only gRPC answer.
  void answer_grpc(std::int32_t id, int status);
  // A WebSocket exchange's final head: a 101 becomes 200 and the stream a tunnel (true), any
  // other answer goes as it is and ends the exchange's input.
  bool websocket_head(std::int32_t id, Exchange& x);
  // The tunnel behind a stream ended before the client ended its side: RST_STREAM NO_ERROR
  // after the END_STREAM, so that the stream closes (RFC 9113 §8.1).
  void end_tunnel_stream(std::int32_t id);
  // The tunnel's bytes from the pipe as DATA (read_response for a tunnel).
  long read_tunnel(std::int32_t id, Exchange& x, std::uint8_t* buf, std::size_t length, bool* eof);
  // This connection's memory (nghttp2's, the pipes', the write buffer) into the gauge.
  void report_memory();
  // The session has ended (GOAWAY queued): the write loop flushes, the read loop lingers.
  void end_session();
  // This connection's own address (unspecified when the socket cannot say).
  boost::asio::ip::tcp::endpoint local_endpoint();

  Worker& worker_;
  Stream stream_;
  ClientIdentity client_;
  std::string early_;
  H2ServerSession session_;
  H2FloodGuard guard_;
  H2FrameCutter cutter_;  // where the client's frames end (after its 24-byte preface)
  // Streams whose request is taken, to start once the frame that opened them is through.
  std::vector<std::shared_ptr<DownstreamConnection<PipeStream>>> starting_;
  std::unordered_map<std::int32_t, Exchange> exchanges_;
  // The header block coming in (one at a time on a connection, RFC 9113 §6.10), of stream
  // head_stream_ (0: none); reused, so that its strings keep their room.
  H2RequestHead head_;
  std::int32_t head_stream_ = 0;
  H2HeadScratch head_scratch_;  // the exchanges' response heads are read into it
  std::int32_t last_id_ = 0;    // find_exchange's last find
  Exchange* last_ = nullptr;    // its exchange, or nullptr
  std::size_t orphans_ = 0;
  std::size_t reported_memory_ = 0;  // exchanges whose stream closed while their pipeline runs
  std::size_t max_header_bytes_;
  std::string out_;           // frames being written
  std::string packed_;        // frames packed since, for the next write (at most one batch)
  std::size_t unpacked_ = 0;  // events since frames were last packed
  PipeWaiter writer_;
  Clock::time_point idle_deadline_;
  Clock::duration idle_timeout_;
  Clock::time_point write_deadline_ = Clock::time_point::max();
  Clock::time_point linger_deadline_ = Clock::time_point::max();
  bool reader_done_ = false;
  bool writer_done_ = false;
  bool discarding_ = false;  // the session ended: what the client still sends is dropped
  bool closed_ = false;
  bool flood_logged_ = false;
};

extern template class H2Connection<TcpStream>;
extern template class H2Connection<TlsStream>;

}  // namespace ringproxy
