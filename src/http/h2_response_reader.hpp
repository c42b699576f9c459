// The pipeline's HTTP/1.1 response read back as HTTP/2: heads as fields, the body de-framed.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/h2_server_session.hpp"
#include "http/trailer_relay.hpp"

namespace ringproxy {

// What heads are read into, shared by the readers of one connection: a head one of them read
// stays valid until the next read_head of any of them (a connection reads and submits one head
// at a time), and the buffers are allocated once per connection, not per stream.
struct H2HeadScratch {
  std::string head;  // the head's bytes, field names lower-cased in place
  std::vector<H2Field> fields;
};

// Reads the pipeline's HTTP/1.1 response (the bytes it wrote into its PipeStream) as HTTP/2:
// interim and final heads as fields, the body de-framed into DATA. The heads are the pipeline's
// own writing, so a plain scan reads them; a Content-Length body is counted off here, a chunked
// or close-delimited one goes through Beast's parser (its chunk and trailer rules). Not
// thread-safe.
class H2ResponseReader {
 public:
  H2ResponseReader(bool head_request, H2HeadScratch& scratch)
      : head_request_(head_request), scratch_(&scratch) {}

  enum class Head { partial, interim, final, bad };
  // Parses a head from bytes (*used: bytes taken). interim/final: status() and fields() hold
  // it (fields() valid until the next read_head of a reader with the same scratch).
  Head read_head(std::string_view bytes, std::size_t* used);
  // A final head the session took as fields (not read here), its body length bytes to come
  // (or none, as read_head's rules say: HEAD, 204, 304).
  void take_final_head(int status, std::uint64_t length);
  int status() const { return status_; }
  const std::vector<H2Field>& fields() const { return scratch_->fields; }
  // Body bytes from bytes into [dst, dst + room): the bytes written; *used: input taken.
  // Sets *bad on broken framing.
  std::size_t read_body(std::string_view bytes, std::size_t* used, char* dst, std::size_t room,
                        bool* bad);
  // The response side closed: a close-delimited body ends here.
  void end_of_input();
  // The final head and all of its body have been read.
  bool done() const;
  // A chunked body's trailer fields, once done() (empty when none came).
  const std::vector<H2Field>& trailers();

  // The longest head read; a longer one is bad (Beast's default limit).
  static constexpr std::size_t kMaxHead = 64 * 1024;

 private:
  using Parser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;
  enum class Body { none, length, parser };
  struct Framing {
    bool chunked = false;
    bool has_length = false;
    std::uint64_t length = 0;
  };
  // Fills status_ and the scratch's fields from its head (names lower-cased in place); false
  // when malformed.
  bool scan_head(Framing* framing);
  void start_body(const Framing& framing);

  bool head_request_;
  bool final_ = false;  // a final head has been read
  Body body_ = Body::none;
  std::uint64_t remaining_ = 0;  // Body::length: bytes still to come
  int status_ = 0;
  H2HeadScratch* scratch_;
  std::unique_ptr<Parser> parser_;          // Body::parser (a stream's reader stays small)
  HeadFields parser_head_;                  // the parser's own head fields, for trailers()
  std::vector<std::string> trailer_names_;  // lower-cased, for trailers_
  std::vector<H2Field> trailers_;
};

}  // namespace ringproxy
