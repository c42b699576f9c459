#!/usr/bin/python3
"""A WebSocket client on Python's websockets (Debian python3-websockets), for the wss tests.

usage: ws_client.py URI CAFILE MESSAGES [HEADER: VALUE ...]
       ws_client.py --early URI CAFILE
Opens URI (wss://NAME:PORT/PATH on 127.0.0.1, NAME checked against CAFILE), sends MESSAGES messages of 1
byte to 1 MiB (binary and text in turn; the last one 1 MiB) and checks each echo, sends a
ping and waits for its pong, then closes with code 1000. Prints "x-origin NAME",
"echoed N", "bytes B", "pong PAYLOAD", "close_code C" and, on any failure, "error WHAT"
(exit 1).
With --early (ws:// or wss://; CAFILE unused for ws://), the upgrade request and a first text
frame go in one write, before any answer (the frame in the same TLS record over wss), and the
script prints "status N" and "early echo TEXT" from what comes back.
"""
import asyncio
import socket
import ssl
import sys
import urllib.parse

import websockets


def message(size, i):
    if i % 2 == 0:
        return bytes((k * 31 + i * 7) & 0xFF for k in range(min(size, 256))) * (size // 256 + 1)
    return chr(ord("a") + i % 26) * size


async def run(uri, cafile, count, headers):
    context = ssl.create_default_context(cafile=cafile)
    # NAME need not resolve: the connection goes to 127.0.0.1, NAME is the SNI and the name
    # the certificate is checked against.
    name = urllib.parse.urlsplit(uri).hostname
    async with websockets.connect(uri, ssl=context, host="127.0.0.1", server_hostname=name,
                                  extra_headers=headers, max_size=None,
                                  compression=None, open_timeout=20, close_timeout=20,
                                  ping_interval=None) as ws:
        print("x-origin", ws.response_headers.get("X-Origin", ""))
        total = 0
        for i in range(count):
            size = 1 << 20 if i == count - 1 else max(1, (1 << (i % 21)) - i % 3)
            m = message(size, i)[:size]
            await ws.send(m)
            echo = await asyncio.wait_for(ws.recv(), 20)
            if echo != m:
                print("error", f"message {i} ({size} bytes) came back changed")
                return 1
            total += size
        print("echoed", count)
        print("bytes", total)
        pong = await ws.ping(b"are-you-there")
        await asyncio.wait_for(pong, 20)
        print("pong are-you-there")
        await ws.close(code=1000, reason="done")
        print("close_code", ws.close_code)
    return 0


def early(uri, cafile):
    parts = urllib.parse.urlsplit(uri)
    raw = socket.create_connection(("127.0.0.1", parts.port), timeout=20)
    if parts.scheme == "wss":
        raw = ssl.create_default_context(cafile=cafile).wrap_socket(
            raw, server_hostname=parts.hostname)
    payload = b"early-bird"
    mask = b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))
    request = (f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    raw.sendall(request.encode() + frame)  # one write: one TLS record
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2 + len(payload):
        chunk = raw.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    print("status", head.split(b" ", 2)[1].decode() if b" " in head else "none")
    if len(rest) >= 2 and rest[0] == 0x81 and rest[1] == len(payload):
        print("early echo", rest[2:2 + len(payload)].decode())
    raw.close()
    return 0


def main():
    if sys.argv[1] == "--early":
        return early(sys.argv[2], sys.argv[3])
    uri, cafile, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    headers = [tuple(h.split(": ", 1)) for h in sys.argv[4:]]
    try:
        return asyncio.run(run(uri, cafile, count, headers))
    except Exception as e:  # the test prints what went wrong
        print("error", repr(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
