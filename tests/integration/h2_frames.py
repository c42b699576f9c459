"""A frame-level HTTP/2 client for ringproxy's tests: raw frames (valid or not) out, parsed
frames in, with HPACK from python3-hpack. Used by h2_conformance.py and h2_attacks.py."""
import socket
import ssl
import struct
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
          "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
          "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
          "HTTP_1_1_REQUIRED"]


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def request_fields(path="/", method="GET", authority="h2.test", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", authority),
            (":path", path)] + list(extra)


class Frame:
    def __init__(self, ftype, flags, stream, payload):
        self.type, self.flags, self.stream, self.payload = ftype, flags, stream, payload

    def error_code(self):
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        return None

    def __repr__(self):
        names = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
                 "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
        name = names[self.type] if self.type < len(names) else str(self.type)
        code = self.error_code()
        extra = " " + ERRORS[code] if code is not None and code < len(ERRORS) else ""
        return "%s(stream=%d flags=%#x len=%d%s)" % (name, self.stream, self.flags,
                                                    len(self.payload), extra)


class Client:
    """One connection. handshake() sends the preface and SETTINGS and takes the server's."""

    def __init__(self, port, tls_ca=None, server_name="h2.test", timeout=10.0, host="127.0.0.1"):
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname=server_name)
            assert raw.selected_alpn_protocol() == "h2", raw.selected_alpn_protocol()
        self.sock = raw
        self.buf = b""
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.server_settings = {}
        self.closed = False
        self.timeout = timeout

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def handshake(self, client_settings=()):
        self.send(PREFACE + settings(*client_settings))
        first = self.next_frame()
        assert first is not None and first.type == SETTINGS and not first.flags & ACK, first
        for i in range(0, len(first.payload), 6):
            k, v = struct.unpack(">HI", first.payload[i:i + 6])
            self.server_settings[k] = v
        self.send(settings(ack=True))
        return first

    def block(self, fields):
        return self.encoder.encode(fields)

    def headers(self, stream, fields, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return frame(HEADERS, flags, stream, self.block(fields))

    def next_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            if len(self.buf) >= 9:
                length = struct.unpack(">I", b"\0" + self.buf[:3])[0]
                if len(self.buf) >= 9 + length:
                    f = Frame(self.buf[3], self.buf[4],
                              struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF,
                              self.buf[9:9 + length])
                    self.buf = self.buf[9 + length:]
                    return f
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                self.closed = True
                return None
            if not data:
                self.closed = True
                return None
            self.buf += data

    def frames_until(self, done, timeout=None):
        """Frames until done(frame) holds (that frame last), or the end or timeout: list."""
        got = []
        while True:
            f = self.next_frame(timeout)
            if f is None:
                return got
            got.append(f)
            if f.type == SETTINGS and not f.flags & ACK:
                self.send(settings(ack=True))
            if f.type == HEADERS:
                f.fields = self.decoder.decode(f.payload)
            if done(f):
                return got

    def goaway(self, timeout=None):
        got = self.frames_until(lambda f: f.type == GOAWAY, timeout)
        return got[-1] if got and got[-1].type == GOAWAY else None

    def response(self, stream, timeout=None):
        """(status, headers, body, frames) of a response on stream; status None on a reset."""
        got = self.frames_until(lambda f: f.stream == stream and (
            f.flags & END_STREAM and f.type in (DATA, HEADERS) or f.type == RST_STREAM) or
            f.type == GOAWAY, timeout)
        status, head, body = None, [], b""
        for f in got:
            if f.stream != stream:
                continue
            if f.type == HEADERS:
                fields = dict(f.fields)
                if ":status" in fields and int(fields[":status"]) >= 200:
                    status, head = int(fields[":status"]), f.fields
            if f.type == DATA:
                body += f.payload
        return status, head, body, got

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
