"""HTTP/2 connections across a reload that removes their listener (ListenerGoawayTest).

usage: h2_listener_goaway.py PORT_A PORT_B PATH   (A on 127.0.0.1, B on 127.0.0.2)
1. On B (a listener the reload keeps): one request, answered.
2. On A (the listener the reload removes): a request for PATH, a slow response; prints
   "waiting" and reads: the test reloads meanwhile.
3. Prints what A got: "goaway NAME last N" (or "goaway none"), "a-status S", "a-bytes N",
   "a-order goaway-before-end" when the GOAWAY came before the stream's end, "a-closed" when
   the proxy closed the connection after it.
4. On B again, the same connection: "b-again S", and "b-goaway none" when B got no GOAWAY.
"""
import struct
import sys

from h2_frames import (DATA, END_STREAM, ERRORS, GOAWAY, HEADERS, RST_STREAM, SETTINGS, Client,
                       WINDOW_UPDATE, frame, request_fields)

PORT_A, PORT_B, PATH = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
SETTINGS_INITIAL_WINDOW_SIZE = 4
WINDOW = 1 << 24


def open_client(port, host):
    c = Client(port, timeout=20.0, host=host)
    c.handshake([(SETTINGS_INITIAL_WINDOW_SIZE, WINDOW)])
    c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", WINDOW)))
    return c


def status_of(frames, stream):
    for f in frames:
        if f.stream == stream and f.type == HEADERS:
            fields = dict(f.fields)
            if ":status" in fields:
                return fields[":status"]
    return "none"


b = open_client(PORT_B, "127.0.0.2")
b.send(b.headers(1, request_fields("/b-before")))
got_b = b.frames_until(lambda f: f.stream == 1 and f.flags & END_STREAM and f.type in (DATA, HEADERS))
print("b-before", status_of(got_b, 1), flush=True)

a = open_client(PORT_A, "127.0.0.1")
a.send(a.headers(1, request_fields(PATH)))
print("waiting", flush=True)
got_a = a.frames_until(lambda f: (f.stream == 1 and f.flags & END_STREAM and
                                  f.type in (DATA, HEADERS)) or f.type == RST_STREAM)
goaway = [f for f in got_a if f.type == GOAWAY]
if goaway:
    last = struct.unpack(">I", goaway[0].payload[:4])[0] & 0x7FFFFFFF
    print("goaway", ERRORS[goaway[0].error_code()], "last", last)
else:
    print("goaway none")
print("a-status", status_of(got_a, 1))
print("a-bytes", sum(len(f.payload) for f in got_a if f.type == DATA and f.stream == 1))
if goaway and got_a.index(goaway[0]) < len(got_a) - 1:
    print("a-order goaway-before-end")
# After its last stream the proxy closes the connection: nothing more comes, then EOF.
rest = a.frames_until(lambda f: False, timeout=10.0)
if a.closed:
    print("a-closed", "after", [repr(f) for f in rest if f.type not in (SETTINGS, GOAWAY)])
a.close()

b.send(b.headers(3, request_fields("/b-again")))
got_b = b.frames_until(lambda f: f.stream == 3 and f.flags & END_STREAM and f.type in (DATA, HEADERS))
print("b-again", status_of(got_b, 3))
if not [f for f in got_b if f.type == GOAWAY]:
    print("b-goaway none")
b.close()
