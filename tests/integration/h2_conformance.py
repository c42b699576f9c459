"""RFC 9113 conformance of ringproxy's HTTP/2 server side, at the frame level.

usage: h2_conformance.py PORT
Each case runs on a fresh h2c connection and prints "ok NAME" or "FAIL NAME: why"; exits 1
when any failed. The proxy's backend is the test origin (it echoes the request)."""
import struct
import sys

from h2_frames import (ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, ERRORS, GOAWAY,
                       HEADERS, PADDED, PING, PRIORITY, RST_STREAM, SETTINGS, WINDOW_UPDATE,
                       Client, frame, request_fields, settings)

PORT = int(sys.argv[1])
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def client():
    c = Client(PORT, timeout=5.0)
    c.handshake()
    return c


def name(code):
    return ERRORS[code] if code is not None and code < len(ERRORS) else str(code)


def expect_goaway(c, code):
    g = c.goaway()
    if g is None:
        return "no GOAWAY (connection %s)" % ("closed" if c.closed else "open")
    if g.error_code() != code:
        return "GOAWAY %s, expected %s" % (name(g.error_code()), name(code))
    return None


def expect_stream_error(c, stream, code):
    """RST_STREAM(code) on stream, or a GOAWAY with code (a connection error is allowed too)."""
    got = c.frames_until(lambda f: (f.type == RST_STREAM and f.stream == stream) or
                         f.type == GOAWAY or (f.stream == stream and f.flags & END_STREAM))
    last = got[-1] if got else None
    if last is None:
        return "nothing came"
    if last.type in (RST_STREAM, GOAWAY) and last.error_code() == code:
        return None
    return "got %r, expected RST_STREAM %s" % (last, name(code))


def expect_status(c, stream, status, body_has=None):
    got_status, head, body, frames = c.response(stream)
    if got_status != status:
        return "status %r, expected %d (frames %r)" % (got_status, status, frames[-3:])
    if body_has is not None and body_has.encode() not in body:
        return "body lacks %r: %r" % (body_has, body[:300])
    return None


# --- connection preface and SETTINGS (RFC 9113 §3.4, §6.5) ---
@case
def server_preface_is_settings_with_limits():
    c = client()
    if c.server_settings.get(0x3) != 100:
        return "SETTINGS_MAX_CONCURRENT_STREAMS %r" % c.server_settings.get(0x3)
    if c.server_settings.get(0x6) is None:
        return "no SETTINGS_MAX_HEADER_LIST_SIZE"


@case
def settings_are_acknowledged():
    c = client()
    got = c.frames_until(lambda f: f.type == SETTINGS and f.flags & ACK)
    if not got or not got[-1].flags & ACK:
        return "no SETTINGS ACK"


@case
def bad_preface_closes_the_connection():
    c = Client(PORT, timeout=5.0)
    c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings())
    while c.next_frame() is not None:
        pass
    if not c.closed:
        return "still open"


@case
def settings_ack_with_payload_is_frame_size_error():
    c = client()
    c.send(frame(SETTINGS, ACK, 0, b"\0" * 6))
    return expect_goaway(c, 6)


@case
def settings_on_a_stream_is_protocol_error():
    c = client()
    c.send(frame(SETTINGS, 0, 1, b""))
    return expect_goaway(c, 1)


@case
def settings_length_not_a_multiple_of_6_is_frame_size_error():
    c = client()
    c.send(frame(SETTINGS, 0, 0, b"\0" * 5))
    return expect_goaway(c, 6)


@case
def enable_push_above_1_is_protocol_error():
    c = client()
    c.send(settings((0x2, 2)))
    return expect_goaway(c, 1)


@case
def initial_window_above_2_31_is_flow_control_error():
    c = client()
    c.send(settings((0x4, 0x80000000)))
    return expect_goaway(c, 3)


@case
def max_frame_size_below_16384_is_protocol_error():
    c = client()
    c.send(settings((0x5, 16383)))
    return expect_goaway(c, 1)


@case
def max_frame_size_above_2_24_is_protocol_error():
    c = client()
    c.send(settings((0x5, 1 << 24)))
    return expect_goaway(c, 1)


@case
def unknown_setting_is_ignored():
    c = client()
    c.send(settings((0x99, 7)))
    got = c.frames_until(lambda f: f.type == SETTINGS and f.flags & ACK)
    if not got or got[-1].type != SETTINGS:
        return "no ACK"
    c.send(c.headers(1, request_fields("/after-unknown-setting")))
    return expect_status(c, 1, 200)


# --- PING (§6.7) ---
@case
def ping_is_answered_with_the_same_payload():
    c = client()
    c.send(frame(PING, 0, 0, b"12345678"))
    got = c.frames_until(lambda f: f.type == PING)
    if not got or got[-1].type != PING or not got[-1].flags & ACK or got[-1].payload != b"12345678":
        return "got %r" % got[-1:]


@case
def ping_on_a_stream_is_protocol_error():
    c = client()
    c.send(frame(PING, 0, 1, b"12345678"))
    return expect_goaway(c, 1)


@case
def ping_of_wrong_length_is_frame_size_error():
    c = client()
    c.send(frame(PING, 0, 0, b"1234567"))
    return expect_goaway(c, 6)


# --- stream identifiers and states (§5.1, §5.1.1) ---
@case
def data_on_stream_0_is_protocol_error():
    c = client()
    c.send(frame(DATA, 0, 0, b"x"))
    return expect_goaway(c, 1)


@case
def data_on_an_idle_stream_is_protocol_error():
    c = client()
    c.send(frame(DATA, 0, 1, b"x"))
    return expect_goaway(c, 1)


@case
def headers_on_stream_0_is_protocol_error():
    c = client()
    c.send(c.headers(0, request_fields()))
    return expect_goaway(c, 1)


@case
def even_stream_from_client_is_protocol_error():
    c = client()
    c.send(c.headers(2, request_fields()))
    return expect_goaway(c, 1)


@case
def decreasing_stream_id_is_never_served():
    # RFC 9113 §5.1.1 asks for PROTOCOL_ERROR; nghttp2 ignores such HEADERS instead (it cannot
    # tell them from trailers racing a reset): no request may come of them either way.
    c = client()
    c.send(c.headers(5, request_fields("/five")))
    c.send(c.headers(3, request_fields("/three")))
    c.send(frame(PING, 0, 0, b"afterall"))
    got = c.frames_until(lambda f: f.type == PING and f.flags & ACK)
    if any(f.stream == 3 for f in got) or not got or got[-1].type != PING:
        return "stream 3 answered, or no PING ACK: %r" % got
    if b"target: /three" in b"".join(f.payload for f in got if f.type == DATA):
        return "stream 3 reached the origin"


@case
def rst_stream_on_an_idle_stream_is_protocol_error():
    c = client()
    c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))
    return expect_goaway(c, 1)


@case
def rst_stream_on_stream_0_is_protocol_error():
    c = client()
    c.send(frame(RST_STREAM, 0, 0, struct.pack(">I", 8)))
    return expect_goaway(c, 1)


@case
def rst_stream_of_wrong_length_is_frame_size_error():
    c = client()
    c.send(c.headers(1, request_fields(), end_stream=False))
    c.send(frame(RST_STREAM, 0, 1, b"\0\0\0"))
    return expect_goaway(c, 6)


@case
def data_after_end_stream_is_stream_closed():
    c = client()
    # One write: both arrive before the stream's response can close it.
    c.send(c.headers(1, request_fields("/closed")) + frame(DATA, 0, 1, b"late"))
    got = c.frames_until(lambda f: f.type in (RST_STREAM, GOAWAY) and f.error_code() == 5)
    if not got or got[-1].error_code() != 5:
        return "no STREAM_CLOSED: %r" % got[-3:]


@case
def unknown_frame_type_is_ignored():
    c = client()
    c.send(frame(0x42, 0, 0, b"whatever"))
    c.send(c.headers(1, request_fields("/after-unknown-frame")))
    return expect_status(c, 1, 200)


@case
def frame_larger_than_max_frame_size_is_frame_size_error():
    c = client()
    c.send(c.headers(1, request_fields("/big", "POST"), end_stream=False))
    c.send(frame(DATA, 0, 1, b"x" * 16385))
    got = c.frames_until(lambda f: f.type in (RST_STREAM, GOAWAY))
    if not got or got[-1].error_code() != 6:
        return "got %r" % got[-1:]


@case
def too_many_concurrent_streams_are_refused():
    c = client()
    for i in range(101):
        c.send(c.headers(1 + 2 * i, request_fields("/open", "POST"), end_stream=False))
    # A stream error (PROTOCOL_ERROR or REFUSED_STREAM) on stream 201, or, as nghttp2 answers
    # once the limit was acknowledged, a connection error PROTOCOL_ERROR.
    got = c.frames_until(lambda f: f.type in (RST_STREAM, GOAWAY))
    last = got[-1] if got else None
    if last is None or last.error_code() not in (1, 7) or \
            (last.type == RST_STREAM and last.stream != 201):
        return "got %r" % got[-1:]


# --- header blocks and HPACK (§4.3, §6.10) ---
@case
def headers_interrupted_by_another_frame_is_protocol_error():
    c = client()
    c.send(frame(HEADERS, 0, 1, c.block(request_fields())))
    c.send(frame(PING, 0, 0, b"12345678"))
    return expect_goaway(c, 1)


@case
def continuation_without_headers_is_protocol_error():
    c = client()
    c.send(frame(CONTINUATION, END_HEADERS, 1, c.block(request_fields())))
    return expect_goaway(c, 1)


@case
def continuation_on_another_stream_is_protocol_error():
    c = client()
    block = c.block(request_fields())
    c.send(frame(HEADERS, END_STREAM, 1, block[:5]))
    c.send(frame(CONTINUATION, END_HEADERS, 3, block[5:]))
    return expect_goaway(c, 1)


@case
def headers_split_over_continuation_are_one_request():
    c = client()
    block = c.block(request_fields("/split"))
    c.send(frame(HEADERS, END_STREAM, 1, block[:4]) + frame(CONTINUATION, 0, 1, block[4:8]) +
           frame(CONTINUATION, END_HEADERS, 1, block[8:]))
    return expect_status(c, 1, 200, "target: /split")


@case
def bad_hpack_index_is_compression_error():
    c = client()
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\xff\xff\x7f"))
    return expect_goaway(c, 9)


@case
def hpack_table_size_above_settings_is_compression_error():
    c = client()
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\x3f\xe1\xff\x03" + c.block(request_fields())))
    return expect_goaway(c, 9)


# --- HTTP semantics of requests (§8.1, §8.2, §8.3) ---
@case
def missing_method_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, [f for f in request_fields() if f[0] != ":method"]))
    return expect_stream_error(c, 1, 1)


@case
def missing_path_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, [f for f in request_fields() if f[0] != ":path"]))
    return expect_stream_error(c, 1, 1)


@case
def empty_path_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields(path="")))
    return expect_stream_error(c, 1, 1)


@case
def pseudo_header_after_a_field_is_a_stream_protocol_error():
    c = client()
    fields = request_fields()
    c.send(c.headers(1, fields[:2] + [("accept", "*/*")] + fields[2:]))
    return expect_stream_error(c, 1, 1)


@case
def unknown_pseudo_header_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields(extra=[]) [:4] + [(":bogus", "x")]))
    return expect_stream_error(c, 1, 1)


@case
def duplicate_path_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields() + [(":path", "/again")]))
    return expect_stream_error(c, 1, 1)


@case
def response_pseudo_header_in_a_request_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields() + [(":status", "200")]))
    return expect_stream_error(c, 1, 1)


@case
def upper_case_field_name_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields(extra=[("X-Upper", "1")])))
    return expect_stream_error(c, 1, 1)


@case
def connection_specific_field_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields(extra=[("connection", "keep-alive")])))
    return expect_stream_error(c, 1, 1)


@case
def te_other_than_trailers_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields(extra=[("te", "gzip")])))
    return expect_stream_error(c, 1, 1)


@case
def te_trailers_is_allowed():
    c = client()
    c.send(c.headers(1, request_fields("/te", extra=[("te", "trailers")])))
    return expect_status(c, 1, 200, "target: /te")


@case
def field_value_with_a_newline_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields(extra=[("x-bad", "a\r\nx-injected: 1")])))
    return expect_stream_error(c, 1, 1)


def post_sized(c, stream, path, length, data):
    """A POST on stream declaring content-length: length, then data in one DATA frame."""
    c.send(c.headers(stream, request_fields(path, "POST", extra=[("content-length", str(length))]),
                     end_stream=False))
    c.send(frame(DATA, END_STREAM, stream, data))


@case
def content_length_not_matching_data_is_a_stream_protocol_error():
    c = client()
    post_sized(c, 1, "/cl", 10, b"abc")
    return expect_stream_error(c, 1, 1)


@case
def cookie_crumbs_are_joined_for_the_backend():
    c = client()
    c.send(c.headers(1, request_fields("/cookie", extra=[("cookie", "a=1"), ("cookie", "b=2")])))
    return expect_status(c, 1, 200, "header: cookie: a=1; b=2")


@case
def authority_becomes_the_host():
    c = client()
    c.send(c.headers(1, request_fields("/host", authority="named.test:81")))
    return expect_status(c, 1, 200, "header: Host: named.test:81")


@case
def post_body_in_several_data_frames_arrives_whole():
    c = client()
    c.send(c.headers(1, request_fields("/post", "POST"), end_stream=False))
    c.send(frame(DATA, 0, 1, b"a" * 1000) + frame(DATA, 0, 1, b"b" * 1000) +
           frame(DATA, END_STREAM, 1, b"c" * 1000))
    return expect_status(c, 1, 200, "body-bytes: 3000")


@case
def padded_data_and_headers_are_accepted():
    c = client()
    block = c.block(request_fields("/padded", "POST"))
    c.send(frame(HEADERS, END_HEADERS | PADDED, 1, bytes([3]) + block + b"\0\0\0"))
    c.send(frame(DATA, END_STREAM | PADDED, 1, bytes([4]) + b"body" + b"\0" * 4))
    return expect_status(c, 1, 200, "body-bytes: 4")


@case
def padding_longer_than_the_frame_is_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields("/pad", "POST"), end_stream=False))
    c.send(frame(DATA, END_STREAM | PADDED, 1, bytes([10]) + b"abc"))
    return expect_goaway(c, 1)


@case
def request_trailers_end_the_request():
    c = client()
    c.send(c.headers(1, request_fields("/trailers", "POST"), end_stream=False))
    c.send(frame(DATA, 0, 1, b"xyz"))
    c.send(c.headers(1, [("x-checksum", "1")], end_stream=True))
    return expect_status(c, 1, 200, "body-bytes: 3")


@case
def expect_100_continue_gets_an_interim_head_then_the_response():
    c = client()
    c.send(c.headers(1, request_fields("/continue", "POST",
                                       extra=[("expect", "100-continue"),
                                              ("content-length", "5")]), end_stream=False))
    got = c.frames_until(lambda f: f.type == HEADERS and f.stream == 1)
    if not got or got[-1].type != HEADERS or dict(got[-1].fields).get(":status") != "100":
        return "no interim 100: %r" % got[-2:]
    c.send(frame(DATA, END_STREAM, 1, b"12345"))
    return expect_status(c, 1, 200, "body-bytes: 5")


@case
def head_request_has_no_data():
    c = client()
    c.send(c.headers(1, request_fields("/head", "HEAD")))
    status, head, body, frames = c.response(1)
    if status != 200 or body or any(f.type == DATA and f.payload for f in frames):
        return "status %r body %r" % (status, body[:40])


@case
def header_list_above_the_limit_is_431():
    c = client()
    block = c.block(request_fields("/huge", extra=[("x-big-%d" % i, "v" * 1000)
                                                   for i in range(20)]))
    c.send(frame(HEADERS, END_STREAM, 1, block[:16000]) +
           frame(CONTINUATION, END_HEADERS, 1, block[16000:]))
    return expect_status(c, 1, 431)


# --- the HTTP/1.1 head rules nghttp2 does not apply (docs/head-rules.md), on the fields ---
@case
def expectation_other_than_100_continue_is_417():
    c = client()
    c.send(c.headers(1, request_fields("/expect", "POST", extra=[("expect", "200-ok")]),
                     end_stream=False))
    return expect_status(c, 1, 417)


@case
def fragment_in_the_path_is_400():
    c = client()
    c.send(c.headers(1, request_fields("/a#frag")))
    return expect_status(c, 1, 400)


@case
def path_above_the_target_limit_is_414():
    c = client()
    c.send(c.headers(1, request_fields("/" + "a" * 8192)))
    return expect_status(c, 1, 414)


@case
def more_than_100_fields_is_431():
    c = client()
    c.send(c.headers(1, request_fields("/many", extra=[("x-f%d" % i, "v") for i in range(100)])))
    return expect_status(c, 1, 431)


@case
def content_length_above_max_body_bytes_is_413():
    c = client()
    c.send(c.headers(1, request_fields("/big", "POST",
                                       extra=[("content-length", str(100 * 1024 * 1024 + 1))]),
                     end_stream=False))
    return expect_status(c, 1, 413)


@case
def two_host_fields_are_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/"),
                         ("host", "a.test"), ("host", "b.test")]))
    return expect_stream_error(c, 1, 1)


@case
def no_authority_and_no_host_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/")]))
    return expect_stream_error(c, 1, 1)


@case
def authority_with_an_empty_port_is_400():
    c = client()
    c.send(c.headers(1, request_fields("/", authority="h2.test:")))
    return expect_status(c, 1, 400)


@case
def host_field_stands_in_for_a_missing_authority():
    c = client()
    c.send(c.headers(1, [(":method", "GET"), (":scheme", "http"), (":path", "/hosted"),
                         ("host", "field.test:82")]))
    return expect_status(c, 1, 200, "header: Host: field.test:82")


@case
def content_length_is_sent_once_with_the_body():
    c = client()
    post_sized(c, 1, "/sized", 3, b"xyz")
    why = expect_status(c, 1, 200, "body-bytes: 3")
    if why:
        return why
    post_sized(c, 3, "/sized", 3, b"xyz")
    status, head, body, frames = c.response(3)
    if body.count(b"content-length") != 1 or b"transfer-encoding" in body.lower():
        return "framing fields sent: %r" % body[:400]
    return None


# --- response heads (RFC 9113 §8.2.2, §8.3.2) ---
def check_head(head, body, want_length):
    names = [n for n, v in head]
    if any(n != n.lower() for n in names):
        return "a field name is not lower-case: %r" % names
    bad = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
    if bad & set(names):
        return "connection-specific fields: %r" % sorted(bad & set(names))
    fields = dict(head)
    if fields.get("via") != "1.1 ringproxy":
        return "via %r" % fields.get("via")
    if want_length is not None and fields.get("content-length") != str(want_length):
        return "content-length %r, expected %d" % (fields.get("content-length"), want_length)
    if want_length is not None and len(body) != want_length:
        return "%d body bytes, expected %d" % (len(body), want_length)
    return None


def fetch(path):
    """(status, headers, body, frames) of a GET of path on a fresh connection."""
    c = client()
    c.send(c.headers(1, request_fields(path)))
    return c.response(1)


@case
def sized_response_head_is_lower_case_fields_without_connection_ones():
    status, head, body, frames = fetch("/sized?bytes=700")
    if status != 200:
        return "status %r" % status
    return check_head(head, body, 700)


@case
def chunked_response_is_de_framed_into_data():
    status, head, body, frames = fetch("/chunked?bytes=5000&chunked=1")
    if status != 200:
        return "status %r" % status
    if "content-length" in dict(head) or len(body) != 5000:
        return "head %r, %d body bytes" % (head, len(body))
    return check_head(head, body, None)


@case
def no_content_response_ends_with_its_head():
    status, head, body, frames = fetch("/none?status=204")
    if status != 204 or body:
        return "status %r, body %r" % (status, body[:40])
    last = [f for f in frames if f.stream == 1][-1]
    if last.type != HEADERS or not last.flags & END_STREAM:
        return "the stream did not end with its head: %r" % frames[-3:]
    return check_head(head, body, None)


@case
def responses_of_many_streams_keep_their_own_heads():
    c = client()
    for i in range(10):
        c.send(c.headers(1 + 2 * i, request_fields("/own?bytes=%d" % (100 + i))))
    done = set()
    got = c.frames_until(lambda f: (f.flags & END_STREAM and f.type in (DATA, HEADERS) and
                                    done.add(f.stream) is None and len(done) == 10) or
                         f.type in (GOAWAY, RST_STREAM))
    for i in range(10):
        sid = 1 + 2 * i
        heads = [f.fields for f in got if f.stream == sid and f.type == HEADERS]
        body = b"".join(f.payload for f in got if f.stream == sid and f.type == DATA)
        if len(heads) != 1 or dict(heads[0]).get(":status") != "200":
            return "stream %d: heads %r" % (sid, heads)
        why = check_head(heads[0], body, 100 + i)
        if why:
            return "stream %d: %s" % (sid, why)
    return None


@case
def many_streams_are_served_concurrently():
    c = client()
    for i in range(20):
        c.send(c.headers(1 + 2 * i, request_fields("/s%d" % i)))
    done = set()
    got = c.frames_until(lambda f: (f.flags & END_STREAM and f.type in (DATA, HEADERS) and
                                    done.add(f.stream) is None and len(done) == 20) or
                         f.type in (GOAWAY, RST_STREAM))
    if len(done) != 20:
        return "%d of 20 streams ended: %r" % (len(done), got[-2:])


# --- flow control (§5.2, §6.9) ---
@case
def window_update_of_zero_on_a_stream_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields("/wu", "POST"), end_stream=False))
    c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0)))
    return expect_stream_error(c, 1, 1)


@case
def window_update_of_zero_on_the_connection_is_protocol_error():
    c = client()
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))
    return expect_goaway(c, 1)


@case
def connection_window_overflow_is_flow_control_error():
    c = client()
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
    return expect_goaway(c, 3)


@case
def window_update_of_wrong_length_is_frame_size_error():
    c = client()
    c.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\1"))
    return expect_goaway(c, 6)


@case
def response_respects_a_small_client_window():
    c = Client(PORT, timeout=5.0)
    c.handshake(client_settings=[(0x4, 100)])
    c.send(c.headers(1, request_fields("/big?bytes=1000")))
    got = c.frames_until(lambda f: f.type == DATA and f.stream == 1, timeout=10)
    first = sum(len(f.payload) for f in got if f.type == DATA)
    more = c.frames_until(lambda f: f.type == DATA, timeout=0.5)
    if first > 100 or any(f.type == DATA for f in more):
        return "server sent beyond the window: %d then %r" % (first, more)
    c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1000)))
    rest = c.frames_until(lambda f: f.type == DATA and f.flags & END_STREAM)
    total = first + sum(len(f.payload) for f in rest if f.type == DATA)
    if total != 1000:
        return "body %d bytes" % total


@case
def priority_frame_of_wrong_length_is_frame_size_error():
    c = client()
    c.send(frame(PRIORITY, 0, 1, b"\0\0\0\0"))
    got = c.frames_until(lambda f: f.type in (RST_STREAM, GOAWAY))
    if not got or got[-1].error_code() != 6:
        return "got %r" % got[-1:]


@case
def goaway_from_the_client_lets_its_stream_finish():
    c = client()
    c.send(c.headers(1, request_fields("/before-goaway")))
    c.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
    return expect_status(c, 1, 200, "target: /before-goaway")


# --- extended CONNECT (RFC 8441; "websocket" is in upgrade_protocols by default) ---
def ws_fields(path="/ws", protocol="websocket", drop=()):
    fields = [(":method", "CONNECT"), (":protocol", protocol), (":scheme", "http"),
              (":path", path), (":authority", "h2.test"), ("sec-websocket-version", "13")]
    return [f for f in fields if f[0] not in drop]


@case
def enable_connect_protocol_is_advertised():
    c = client()
    if c.server_settings.get(0x8) != 1:
        return "SETTINGS_ENABLE_CONNECT_PROTOCOL %r" % c.server_settings.get(0x8)


@case
def protocol_pseudo_header_outside_connect_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, request_fields() + [(":protocol", "websocket")]))
    return expect_stream_error(c, 1, 1)


@case
def extended_connect_without_path_is_a_stream_protocol_error():
    c = client()
    c.send(c.headers(1, ws_fields(drop=(":path",)), end_stream=False))
    return expect_stream_error(c, 1, 1)


@case
def extended_connect_for_websocket_opens_a_tunnel_with_200():
    c = client()
    c.send(c.headers(1, ws_fields(), end_stream=False))
    got = c.frames_until(lambda f: f.stream == 1 and f.type in (HEADERS, RST_STREAM) or
                         f.type == GOAWAY)
    last = got[-1] if got else None
    if last is None or last.type != HEADERS or dict(last.fields).get(":status") != "200":
        return "got %r, expected HEADERS :status 200" % last
    if last.flags & END_STREAM:
        return "the tunnel's 200 ended the stream"
    if "sec-websocket-accept" in dict(last.fields):
        return "sec-websocket-accept on an HTTP/2 response"
    c.send(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL: the tunnel closes


@case
def extended_connect_for_another_protocol_is_405():
    c = client()
    c.send(c.headers(1, ws_fields(protocol="foo"), end_stream=False))
    return expect_status(c, 1, 405)


@case
def plain_connect_is_405():
    c = client()
    c.send(c.headers(1, [(":method", "CONNECT"), (":authority", "h2.test:443")], end_stream=False))
    return expect_status(c, 1, 405)


def main():
    failed = 0
    for fn in CASES:
        try:
            why = fn()
        except Exception as e:  # a case that crashed failed
            why = "exception %r" % e
        if why:
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, why), flush=True)
        else:
            print("ok %s" % fn.__name__, flush=True)
    print("%d cases, %d failed" % (len(CASES), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
