#!/usr/bin/python3
"""An HTTP/2 origin on Python's h2 (Debian python3-h2), for the HTTP/2 backend tests.

usage: h2_origin.py [--tls CERT KEY] [--goaway-after N] [--name NAME] [--silent-after N]
                    [--max-streams N]
Listens on 127.0.0.1 at a port the kernel picks, prints "port N", and serves:
  /stats            connections, streams and PINGs seen so far
                    ("connections=C streams=S pings=P")
  /trailers         body "data", then trailers grpc-status: 0 and x-trailer: done
  /big?n=N          N pattern bytes ('a' + i % 26), no content-length, within flow control
  /upload           reads the whole body, answers "bytes=N"
  /duplex           answers at once, then echoes each piece of the body as it comes
  /slow?ms=N        answers after N ms
  /status?code=N    answers with status N
  /sized            a body with content-length
  anything else     "hello <path>" with x-method, x-path, x-authority, x-te, x-scheme,
                    x-origin and x-request-trailers ("name=value;..." of the request's
                    trailing HEADERS) headers; a request body is echoed instead
With --goaway-after N, a connection sends GOAWAY after its Nth request (naming it the last
it processes), answers the requests up to it, ignores those after it, then closes.
With --silent-after N, a connection goes silent once its Nth response is sent: it reads and
drops whatever comes (PINGs unanswered) and sends nothing, until the peer closes it.
With --max-streams N, SETTINGS_MAX_CONCURRENT_STREAMS is N.
"""
import asyncio
import ssl
import sys
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hyperframe.frame

STATS = {"connections": 0, "streams": 0, "pings": 0}


ALPHABET = bytes(range(97, 123)) * (65536 // 26 + 2)


def pattern(offset, n):
    """n bytes of 'a' + i % 26 from offset i = offset on (n <= 65536)."""
    return ALPHABET[offset % 26:offset % 26 + n]


class Conn:
    def __init__(self, reader, writer, opts):
        self.reader, self.writer, self.opts = reader, writer, opts
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8",
                                           validate_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(config=config)
        self.windows = {}  # stream id -> asyncio.Event set when its window opens
        self.bodies = {}
        self.queues = {}   # /duplex streams: pieces of the body as they come
        self.counts = {}   # /upload streams: body bytes so far
        self.trailers = {}  # stream id -> the request's trailing HEADERS
        self.requests = 0
        self.last_id = None  # after GOAWAY: the last stream processed
        self.tasks = set()
        self.answered = 0
        self.silent = False  # --silent-after: nothing read is processed any more

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)

    async def send_data(self, sid, data, end=True):
        while data:
            window = self.h2.local_flow_control_window(sid)
            if window <= 0:
                event = self.windows.setdefault(sid, asyncio.Event())
                event.clear()
                await event.wait()
                continue
            n = min(window, self.h2.max_outbound_frame_size, len(data))
            self.h2.send_data(sid, data[:n])
            data = data[n:]
            self.flush()
            await self.writer.drain()
        if end:
            self.h2.end_stream(sid)
            self.flush()

    def respond(self, sid, status, headers=(), end=False):
        self.h2.send_headers(sid, [(":status", str(status))] + list(headers), end_stream=end)
        self.flush()

    async def handle(self, sid, headers, body):
        h = dict(headers)
        url = urllib.parse.urlsplit(h[":path"])
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        try:
            await self.answer(sid, h, path, q, body)
        except Exception:  # the stream was reset or the connection is gone
            pass
        self.done(sid)

    async def answer(self, sid, h, path, q, body):
        if path.endswith("/stats"):
            text = (f"connections={STATS['connections']} streams={STATS['streams']} "
                    f"pings={STATS['pings']}").encode()
            self.respond(sid, 200, [("content-length", str(len(text)))])
            await self.send_data(sid, text)
        elif path == "/trailers":
            self.respond(sid, 200, [("content-type", "text/plain")])
            await self.send_data(sid, b"data", end=False)
            self.h2.send_headers(sid, [("grpc-status", "0"), ("x-trailer", "done")],
                                 end_stream=True)
            self.flush()
        elif path == "/big":
            n = int(q.get("n", "0"))
            self.respond(sid, 200)
            sent = 0
            while sent < n:
                k = min(65536, n - sent)
                await self.send_data(sid, pattern(sent, k), end=False)
                sent += k
            self.h2.end_stream(sid)
            self.flush()
        elif path == "/upload":
            text = f"bytes={body}".encode()
            self.respond(sid, 200, [("content-length", str(len(text)))])
            await self.send_data(sid, text)
        elif path == "/slow":
            await asyncio.sleep(int(q.get("ms", "1000")) / 1000)
            self.respond(sid, 200)
            await self.send_data(sid, b"slow")
        elif path == "/status":
            self.respond(sid, int(q.get("code", "200")))
            await self.send_data(sid, b"status")
        else:
            text = body if isinstance(body, bytes) and body else f"hello {path}".encode()
            extra = [("content-length", str(len(text)))] if path == "/sized" else []
            self.respond(sid, 200, [("x-method", h.get(":method", "")), ("x-path", h[":path"]),
                                    ("x-authority", h.get(":authority", "")),
                                    ("x-scheme", h.get(":scheme", "")),
                                    ("x-te", h.get("te", "")),
                                    ("x-forwarded-for", h.get("x-forwarded-for", "")),
                                    ("x-origin", self.opts["name"]),
                                    ("x-request-trailers", ";".join(
                                        f"{k[9:]}={v}" for k, v in h.items()
                                        if k.startswith("trailer: ")))] + extra)
            await self.send_data(sid, text)

    async def duplex(self, sid):
        try:
            self.respond(sid, 200)
            queue = self.queues[sid]
            while True:
                piece = await queue.get()
                if piece is None:
                    break
                await self.send_data(sid, piece, end=False)
                self.h2.acknowledge_received_data(len(piece), sid)
                self.flush()
            self.h2.end_stream(sid)
            self.flush()
        except Exception:
            pass
        self.done(sid)

    def done(self, sid):
        self.answered += 1
        if self.opts["silent_after"] and self.answered >= self.opts["silent_after"]:
            self.silent = True
        if self.last_id is not None and not [t for t in self.tasks if not t.done()
                                             and t is not asyncio.current_task()]:
            # A graceful end: FIN after the last answer; the reading loop closes at EOF (a
            # close with unread bytes would send RST, and the peer could lose the answers).
            if self.writer.can_write_eof():
                self.writer.write_eof()

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def request_started(self, sid, headers):
        """True when the stream is to be served."""
        if self.last_id is not None and sid > self.last_id:
            return False
        self.requests += 1
        STATS["streams"] += 1
        limit = self.opts["goaway_after"]
        if limit and self.requests == limit:
            self.last_id = sid
            frame = hyperframe.frame.GoAwayFrame(0)
            frame.last_stream_id = sid
            frame.error_code = 0
            self.writer.write(frame.serialize())  # raw: h2's state machine serves on
        return True

    async def run(self):
        STATS["connections"] += 1
        self.h2.initiate_connection()
        if self.opts["max_streams"]:
            # In force once the peer acknowledges it: the streams it opened before it knew
            # are served (h2 would count them against an initial value and fail).
            self.h2.update_settings(
                {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.opts["max_streams"]})
        self.flush()
        heads = {}
        while True:
            data = await self.reader.read(65536)
            if not data:
                break
            if self.silent:
                continue
            try:
                events = self.h2.receive_data(data)
            except Exception:
                break
            for e in events:
                if isinstance(e, h2.events.RequestReceived):
                    if not self.request_started(e.stream_id, e.headers):
                        continue
                    heads[e.stream_id] = e.headers
                    self.bodies[e.stream_id] = b""
                    if dict(e.headers)[":path"].startswith("/duplex"):
                        self.queues[e.stream_id] = asyncio.Queue()
                        self.spawn(self.duplex(e.stream_id))
                elif isinstance(e, h2.events.DataReceived):
                    if e.stream_id not in heads:
                        self.h2.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                    elif e.stream_id in self.queues:
                        self.queues[e.stream_id].put_nowait(e.data)
                    else:
                        if dict(heads[e.stream_id])[":path"].startswith("/upload"):
                            self.counts[e.stream_id] = self.counts.get(e.stream_id, 0) + len(e.data)
                        else:
                            self.bodies[e.stream_id] += e.data
                        self.h2.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                elif isinstance(e, h2.events.TrailersReceived):
                    self.trailers[e.stream_id] = e.headers
                elif isinstance(e, h2.events.StreamEnded):
                    if e.stream_id in self.queues:
                        self.queues[e.stream_id].put_nowait(None)
                    elif e.stream_id in heads:
                        body = self.bodies.pop(e.stream_id)
                        if dict(heads[e.stream_id])[":path"].startswith("/upload"):
                            body = self.counts.pop(e.stream_id, 0)
                        head = heads.pop(e.stream_id) + [
                            ("trailer: " + k, v) for k, v in self.trailers.pop(e.stream_id, [])]
                        self.spawn(self.handle(e.stream_id, head, body))
                elif isinstance(e, h2.events.WindowUpdated):
                    targets = self.windows.values() if e.stream_id == 0 else \
                        [self.windows[e.stream_id]] if e.stream_id in self.windows else []
                    for ev in list(targets):
                        ev.set()
                elif isinstance(e, h2.events.PingReceived):
                    STATS["pings"] += 1
                elif isinstance(e, h2.events.StreamReset):
                    self.queues.pop(e.stream_id, None)
                    heads.pop(e.stream_id, None)
            self.flush()
            try:
                await self.writer.drain()
            except Exception:
                break
        for ev in self.windows.values():
            ev.set()
        self.writer.close()


async def main():
    args = sys.argv[1:]
    opts = {"goaway_after": 0, "name": "h2", "silent_after": 0, "max_streams": 0}
    context = None
    while args:
        a = args.pop(0)
        if a == "--tls":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.pop(0), args.pop(0))
            context.set_alpn_protocols(["h2"])
        elif a == "--goaway-after":
            opts["goaway_after"] = int(args.pop(0))
        elif a == "--name":
            opts["name"] = args.pop(0)
        elif a == "--silent-after":
            opts["silent_after"] = int(args.pop(0))
        elif a == "--max-streams":
            opts["max_streams"] = int(args.pop(0))

    async def serve(reader, writer):
        await Conn(reader, writer, opts).run()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
