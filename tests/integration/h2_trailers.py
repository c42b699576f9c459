"""Trailers through ringproxy over HTTP/2 (h2c prior knowledge), at the frame level.

usage: h2_trailers.py PORT request|response
  request:  POST /upload with DATA "hello" then a trailing HEADERS block (END_STREAM);
            prints "status N".
  response: GET /trailers; prints "status N", "body B", then "trailer NAME: VALUE" for each
            field of a HEADERS block after the response head and "trailers-end-stream 1" when
            that block carried END_STREAM ("data-end-stream 1" when a DATA frame did), "reset N"
            for an RST_STREAM."""
import sys

from h2_frames import DATA, END_STREAM, HEADERS, RST_STREAM, Client, frame, request_fields

PORT = int(sys.argv[1])
MODE = sys.argv[2]


def main():
    c = Client(PORT, timeout=10.0)
    c.handshake()
    if MODE == "request":
        c.send(c.headers(1, request_fields("/upload", "POST"), end_stream=False))
        c.send(frame(DATA, 0, 1, b"hello"))
        c.send(c.headers(1, [("x-checksum", "abc"), ("content-length", "5"),
                             ("host", "evil.test"), ("x-note", "n")], end_stream=True))
        status, _, body, frames = c.response(1)
        print("status %s" % status)
        if status is None:
            print("frames %r" % frames)
        return
    c.send(c.headers(1, request_fields("/trailers")))
    status, _, body, frames = c.response(1)
    print("status %s" % status)
    print("body %s" % body.decode(errors="replace"))
    final_seen = False
    for f in frames:
        if f.stream != 1:
            continue
        if f.type == DATA and f.flags & END_STREAM:
            print("data-end-stream 1")
        if f.type == RST_STREAM:
            print("reset %d" % f.error_code())
        if f.type != HEADERS:
            continue
        fields = dict(f.fields)
        if not final_seen:
            final_seen = ":status" in fields and int(fields[":status"]) >= 200
            continue
        for name, value in f.fields:
            print("trailer %s: %s" % (name, value))
        if f.flags & END_STREAM:
            print("trailers-end-stream 1")


main()
