"""WebSocket over HTTP/2 (RFC 8441) through ringproxy, with Debian's python3-h2 as the client
and the test origin's WebSocket echo (an HTTP/1.1 upgrade) behind the proxy.

usage: h2_websocket.py MODE PORT [CAFILE]
(h2c with prior knowledge; with CAFILE, TLS to site.test with ALPN h2)
  echo     three WebSocket streams and ordinary requests on one h2c connection: messages of
           1 B to 1 MiB echoed byte for byte on each stream, then the close handshake and
           END_STREAM both ways
  refused  the origin answers the upgrade 403: an ordinary response on the stream; a 200
           (no switch) becomes 502
  unlisted a :protocol other than websocket, and a plain CONNECT: 405
  nosetting  SETTINGS_ENABLE_CONNECT_PROTOCOL is not advertised, and :protocol is refused
           (RST_STREAM PROTOCOL_ERROR)
  badaccept  the backend's 101 has a wrong Sec-WebSocket-Accept: 502 (against bad-origin, an
           origin run with "bad-origin 0" that prints "port N")
  hold     a tunnel that speaks once, then waits until the proxy ends the stream (prints
           "open" first, then "ended-after-ms N")
  slow     48 MiB through one stream whose reader stops: the proxy's credit stops the writer
           (flow control) long before, then everything comes back intact
Prints "ok MODE" and facts ("x-origin o0", "sent-before-stall N"); on failure "error WHY"
and exit 1."""
import os
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events

MODE, PORT = sys.argv[1], int(sys.argv[2])
CAFILE = sys.argv[3] if len(sys.argv) > 3 else None  # TLS with ALPN h2, to site.test
ENABLE_CONNECT_PROTOCOL = 0x8


class Failed(Exception):
    pass


def xor_mask(data, mask):
    n = len(data)
    if n == 0:
        return b""
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def ws_frame(opcode, payload):
    """A client frame (masked, FIN)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = os.urandom(4)
    return head + mask + xor_mask(payload, mask)


def ws_parse(buf):
    """One server frame from the front of buf (a bytearray): (fin, opcode, payload) or None."""
    if len(buf) < 2:
        return None
    fin, opcode, n, at = buf[0] & 0x80, buf[0] & 0x0F, buf[1] & 0x7F, 2
    if buf[1] & 0x80:
        raise Failed("the server's frame is masked")
    if n == 126:
        if len(buf) < 4:
            return None
        n, at = struct.unpack(">H", bytes(buf[2:4]))[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, at = struct.unpack(">Q", bytes(buf[2:10]))[0], 10
    if len(buf) < at + n:
        return None
    payload = bytes(buf[at:at + n])
    del buf[:at + n]
    return fin, opcode, payload


class Stream:
    def __init__(self):
        self.status, self.headers, self.data = None, {}, bytearray()
        self.ended = self.reset = False
        self.reset_code = None
        self.credit = 0  # DATA bytes received, not yet acknowledged
        self.first, self.parts = None, []  # the message being reassembled from fragments


class Conn:
    def __init__(self, ack_data=True):
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if CAFILE:
            context = ssl.create_default_context(cafile=CAFILE)
            context.set_alpn_protocols(["h2"])
            self.sock = context.wrap_socket(self.sock, server_hostname="site.test")
            if self.sock.selected_alpn_protocol() != "h2":
                raise Failed("ALPN chose %r" % self.sock.selected_alpn_protocol())
        # Unvalidated: python3-h2 knows no plain CONNECT (no :scheme, no :path).
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                           validate_outbound_headers=False)
        self.h2 = h2.connection.H2Connection(config)
        self.h2.initiate_connection()
        self.streams = {}
        self.remote_settings = None
        self.goaway = None
        self.raw = b""
        self.ack_data = ack_data
        self.flush()
        self.until(lambda: self.remote_settings is not None, "the server's SETTINGS")

    def flush(self):
        out = self.h2.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self, timeout=20.0):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(256 * 1024)
        except socket.timeout:
            return False
        if not data:
            raise Failed("the proxy closed the connection")
        self.raw += data
        # Frame by frame: python3-h2 takes no frame after a GOAWAY, which a drain sends while
        # its streams go on; those are read here (DATA, RST_STREAM), nothing more is sent.
        while len(self.raw) >= 9:
            size = 9 + struct.unpack(">I", b"\0" + self.raw[:3])[0]
            if len(self.raw) < size:
                break
            frame, self.raw = self.raw[:size], self.raw[size:]
            if self.goaway is None:
                for e in self.h2.receive_data(frame):
                    self.event(e)
                self.flush()
                continue
            ftype, flags, sid = frame[3], frame[4], struct.unpack(">I", frame[5:9])[0]
            s = self.streams.get(sid & 0x7FFFFFFF)
            if s is not None and ftype == 0x0:
                s.data += frame[9:]
                s.ended = s.ended or bool(flags & 0x1)
            elif s is not None and ftype == 0x3:
                s.reset, s.reset_code = True, struct.unpack(">I", frame[9:13])[0]
        return True

    def event(self, e):
        if isinstance(e, h2.events.RemoteSettingsChanged):
            if self.remote_settings is None:
                self.remote_settings = {}
            for code, s in e.changed_settings.items():
                self.remote_settings[int(code)] = s.new_value
        elif isinstance(e, h2.events.ResponseReceived):
            s = self.streams[e.stream_id]
            s.headers = dict(e.headers)
            s.status = int(s.headers[":status"])
        elif isinstance(e, h2.events.DataReceived):
            s = self.streams[e.stream_id]
            s.data += e.data
            if self.ack_data:
                self.h2.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            else:
                s.credit += e.flow_controlled_length
        elif isinstance(e, h2.events.StreamEnded):
            self.streams[e.stream_id].ended = True
        elif isinstance(e, h2.events.StreamReset):
            s = self.streams.get(e.stream_id)
            if s is not None:
                s.reset, s.reset_code = True, int(e.error_code)
        elif isinstance(e, h2.events.ConnectionTerminated):
            self.goaway = int(e.error_code)
            if self.goaway != 0:  # NO_ERROR (a drain) lets the streams in flight finish
                raise Failed("GOAWAY %s" % e.error_code)

    def until(self, done, what, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline or not self.pump(deadline - time.monotonic()):
                raise Failed("timed out waiting for " + what)

    def request(self, fields, end_stream=True):
        sid = self.h2.get_next_available_stream_id()
        self.streams[sid] = Stream()
        self.h2.send_headers(sid, fields, end_stream=end_stream)
        self.flush()
        return sid

    def websocket(self, path="/ws", protocol="websocket", extra=()):
        return self.request([(":method", "CONNECT"), (":protocol", protocol), (":scheme", "http"),
                             (":path", path), (":authority", "ws.test"),
                             ("sec-websocket-version", "13")] + list(extra), end_stream=False)

    def get(self, path):
        return self.request([(":method", "GET"), (":scheme", "http"), (":path", path),
                             (":authority", "ws.test")])

    def send(self, sid, data, end_stream=False):
        """All of data on sid, within the flow-control windows (waiting for credit)."""
        view = memoryview(data)
        while view:
            room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if room <= 0:
                self.until(lambda: self.h2.local_flow_control_window(sid) > 0, "window credit")
                continue
            self.h2.send_data(sid, bytes(view[:room]))
            view = view[room:]
            self.flush()
        if end_stream:
            self.h2.end_stream(sid)
            self.flush()

    def try_message(self, sid):
        """The next whole WebSocket message on sid if it is here: (opcode, payload), or None."""
        s = self.streams[sid]
        while True:
            got = ws_parse(s.data)
            if got is None:
                return None
            fin, opcode, payload = got
            if opcode >= 0x8:  # control frames come whole, between fragments too
                return opcode, payload
            s.first = opcode if s.first is None else s.first
            s.parts.append(payload)
            if fin:
                whole = (s.first, b"".join(s.parts))
                s.first, s.parts = None, []
                return whole

    def message(self, sid):
        """The next whole WebSocket message on sid: (opcode, payload)."""
        s = self.streams[sid]
        while True:
            got = self.try_message(sid)
            if got is not None:
                return got
            if s.ended or s.reset:
                raise Failed("stream %d ended inside a message" % sid)
            self.pump()

    def opened(self, sid):
        self.until(lambda: self.streams[sid].status is not None or self.streams[sid].reset,
                   "the answer on stream %d" % sid)
        s = self.streams[sid]
        if s.status != 200:
            raise Failed("stream %d: status %r (reset %r)" % (sid, s.status, s.reset_code))
        if "sec-websocket-accept" in s.headers:
            raise Failed("sec-websocket-accept went to the HTTP/2 client")

    def close_websocket(self, sid):
        self.send(sid, ws_frame(0x8, struct.pack(">H", 1000) + b"done"))
        opcode, payload = self.message(sid)
        if opcode != 0x8 or struct.unpack(">H", payload[:2])[0] != 1000:
            raise Failed("stream %d: close answered %r %r" % (sid, opcode, payload[:10]))
        self.send(sid, b"", end_stream=True)
        s = self.streams[sid]
        self.until(lambda: s.ended or s.reset, "the end of stream %d" % sid)
        if s.reset and s.reset_code != 0:
            raise Failed("stream %d reset with %d" % (sid, s.reset_code))


def payload(size, i):
    return bytes(((k * 31 + i * 7) & 0xFF) for k in range(min(size, 4096))) * (size // 4096 + 1)


SIZES = [1, 2, 125, 126, 127, 1000, 65535, 65536, 65537, 200000, 1 << 20]


def echo():
    c = Conn()
    if c.remote_settings.get(ENABLE_CONNECT_PROTOCOL) != 1:
        raise Failed("SETTINGS_ENABLE_CONNECT_PROTOCOL %r" % c.remote_settings.get(8))
    ws = [c.websocket(extra=[("sec-websocket-protocol", "chat"), ("x-user", "u%d" % i)])
          for i in range(3)]
    gets = [c.get("/plain?n=%d" % i) for i in range(3)]
    for sid in ws:
        c.opened(sid)
        print("x-origin", c.streams[sid].headers.get("x-origin", ""))
    for n, sid in enumerate(gets):
        c.until(lambda: c.streams[sid].ended, "the GET on stream %d" % sid)
        if c.streams[sid].status != 200 or b"target: /plain?n=%d" % n not in c.streams[sid].data:
            raise Failed("GET on stream %d: %r" % (sid, bytes(c.streams[sid].data[:200])))
    total = 0
    for i, size in enumerate(SIZES):
        # One message on every stream, then the echoes: the streams' DATA interleave.
        sent = {}
        for k, sid in enumerate(ws):
            m = payload(size + k, i)[:size + k]
            opcode = 0x2 if (i + k) % 2 == 0 else 0x1
            if opcode == 0x1:
                m = bytes(ord("a") + b % 26 for b in m[:4096]) * (len(m) // 4096 + 1)
                m = m[:size + k]
            sent[sid] = (opcode, m)
            c.send(sid, ws_frame(opcode, m))
        more = c.get("/between?size=%d" % size)
        for sid, (opcode, m) in sent.items():
            got = c.message(sid)
            if got != (opcode, m):
                raise Failed("stream %d: message of %d bytes came back changed (%d bytes)" %
                             (sid, len(m), len(got[1])))
            total += len(m)
        c.until(lambda: c.streams[more].ended, "the GET between messages")
    # A ping and its pong, through the tunnel.
    c.send(ws[0], ws_frame(0x9, b"are-you-there"))
    if c.message(ws[0]) != (0xA, b"are-you-there"):
        raise Failed("no pong")
    for sid in ws:
        c.close_websocket(sid)
    print("echoed-bytes", total)
    after = c.get("/after")
    c.until(lambda: c.streams[after].ended, "the GET after the tunnels")


def refused():
    c = Conn()
    sid = c.websocket(path="/ws?status=403")
    c.until(lambda: c.streams[sid].ended or c.streams[sid].reset, "the refusal")
    s = c.streams[sid]
    print("status", s.status)
    print("x-origin", s.headers.get("x-origin", ""))
    # A 2xx that is not a switch would read as an open tunnel: 502 instead.
    ok = c.websocket(path="/ws?status=200")
    c.until(lambda: c.streams[ok].ended or c.streams[ok].reset, "the answer to a 200")
    print("status-200-becomes", c.streams[ok].status)
    after = c.get("/after-refusal")
    c.until(lambda: c.streams[after].ended, "a GET after the refusal")
    print("after", c.streams[after].status)


def unlisted():
    c = Conn()
    sid = c.websocket(protocol="foo")
    c.until(lambda: c.streams[sid].ended or c.streams[sid].reset, "the answer to :protocol foo")
    print("protocol-foo", c.streams[sid].status)
    plain = c.request([(":method", "CONNECT"), (":authority", "ws.test:443")], end_stream=False)
    c.until(lambda: c.streams[plain].ended or c.streams[plain].reset, "the answer to CONNECT")
    print("plain-connect", c.streams[plain].status)


def nosetting():
    c = Conn()
    print("enable-connect-protocol", c.remote_settings.get(ENABLE_CONNECT_PROTOCOL, 0))
    sid = c.websocket()
    c.until(lambda: c.streams[sid].ended or c.streams[sid].reset, "the answer to :protocol")
    s = c.streams[sid]
    print("status", s.status, "reset", s.reset_code)


def slow():
    c = Conn(ack_data=False)
    sid = c.websocket()
    c.opened(sid)
    total, count = 48 << 20, 48
    messages = [payload(1 << 20, i)[:1 << 20] for i in range(count)]
    # Send without reading: the echo fills the stream's window, the proxy stops reading the
    # backend, the backend stops reading, and the proxy stops crediting this side.
    sent = 0
    frames = [ws_frame(0x2, m) for m in messages]
    stalled = False
    for f in frames:
        view = memoryview(f)
        while view:
            room = min(c.h2.local_flow_control_window(sid), c.h2.max_outbound_frame_size)
            if room <= 0:
                # The proxy's credit: does it come back without our reading? (2 s of nothing
                # after the last of it counts as the stall the flow control must cause.)
                if not c.pump(2.0) and c.h2.local_flow_control_window(sid) <= 0:
                    stalled = True
                    break
                continue
            piece = bytes(view[:room])
            c.h2.send_data(sid, piece)
            sent += len(piece)
            view = view[len(piece):]
            c.flush()
        if stalled:
            break
    print("sent-before-stall", sent)
    if not stalled:
        raise Failed("all %d bytes went up while nothing was read back" % total)
    # Now read: the rest goes up as the echoes come down, all of it intact.
    c.ack_data = True
    s = c.streams[sid]
    c.h2.acknowledge_received_data(s.credit, sid)
    c.flush()
    pending = memoryview(b"".join(frames))[sent:]
    got = 0
    while got < count:
        while pending and c.h2.local_flow_control_window(sid) > 0:
            room = min(c.h2.local_flow_control_window(sid), c.h2.max_outbound_frame_size)
            c.h2.send_data(sid, bytes(pending[:room]))
            pending = pending[room:]
            c.flush()
        parsed = c.try_message(sid)
        if parsed is None:
            if not c.pump():
                raise Failed("stalled after %d echoes" % got)
            continue
        if parsed != (0x2, messages[got]):
            raise Failed("echo %d came back changed" % got)
        got += 1
    print("echoed", got)
    c.close_websocket(sid)


def hold():
    """A tunnel that speaks once, then waits for the proxy to end it (idle timeout, drain)."""
    c = Conn()
    sid = c.websocket(extra=[("sec-websocket-protocol", "chat")])
    c.opened(sid)
    c.send(sid, ws_frame(0x1, b"hello"))
    if c.message(sid) != (0x1, b"hello"):
        raise Failed("no echo")
    start = time.monotonic()
    print("open", flush=True)
    s = c.streams[sid]
    c.until(lambda: s.ended or s.reset, "the proxy to end the tunnel", timeout=20.0)
    print("ended-after-ms", int((time.monotonic() - start) * 1000))
    print("ended-by", "reset %d" % s.reset_code if s.reset else "end_stream")


def badaccept():
    c = Conn()
    sid = c.websocket()
    c.until(lambda: c.streams[sid].ended or c.streams[sid].reset, "the answer")
    print("status", c.streams[sid].status)


def bad_origin():
    """An HTTP/1.1 origin whose 101 carries a wrong Sec-WebSocket-Accept (prints its port)."""
    server = socket.create_server(("127.0.0.1", 0))
    print("port", server.getsockname()[1], flush=True)
    while True:
        conn, _ = server.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            more = conn.recv(65536)
            if not more:
                break
            head += more
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSBhY2NlcHQ=\r\n\r\n")
        while conn.recv(65536):
            pass
        conn.close()


def main():
    if MODE == "bad-origin":
        bad_origin()
    try:
        {"echo": echo, "refused": refused, "unlisted": unlisted, "nosetting": nosetting,
         "slow": slow, "hold": hold, "badaccept": badaccept}[MODE]()
    except (Failed, OSError) as e:
        print("error", e)
        return 1
    print("ok", MODE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
