#!/usr/bin/env python3
"""Opens many idle keep-alive client connections to a proxy and holds them (for scripts/bench).

  scripts/idle_connections.py --port 18080 --count 10000 --ready-file F [--host 127.0.0.1] [--tls]

1. Opens --count TCP connections (at most --concurrency connection attempts at a time), sends
   one `GET /idle/N?bytes=64 HTTP/1.1` with keep-alive on each and reads its whole response.
2. Writes one line to --ready-file when every connection is done:
   `opened=N ok=N failed=N seconds=S` (ok = answered 200 and still open) and holds them idle.
3. On SIGUSR1 (or after --hold seconds), checks the held connections: counts those the proxy
   closed while idle, sends a second GET on each one still open and counts the 200s, prints
   `held=N closed_while_idle=N reuse_ok=N reuse_failed=N` on stdout, closes everything and
   exits 0 (1 if any connection failed at any step).

The caller measures the proxy's memory between 2 and 3. The process needs --count + a few
file descriptors (ulimit -n).
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys
import time


async def read_response(reader):
    """Reads one HTTP/1.1 response; returns (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    close = False
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and "close" in value.lower():
            close = True
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    elif length is None and status not in (204, 304) and status >= 200:
        # No framing: the body runs to EOF, so the connection cannot be kept.
        await reader.read()
        close = True
    return status, not close


def request(host, port, i):
    return (
        f"GET /idle/{i}?bytes=64 HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"User-Agent: ringproxy-bench-idle\r\nAccept: */*\r\n\r\n"
    ).encode()


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=64,
                    help="connection attempts in flight at once (default 64)")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-step timeout in seconds")
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--tls", action="store_true",
                    help="TLS connections (the proxy's certificate is not checked)")
    ap.add_argument("--hold", type=float, default=600.0,
                    help="hold at most this long when no SIGUSR1 comes (default 600 s)")
    args = ap.parse_args()

    conns = [None] * args.count  # (reader, writer) per connection that answered 200
    errors = {}
    sem = asyncio.Semaphore(args.concurrency)

    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE

    def note(kind):
        errors[kind] = errors.get(kind, 0) + 1

    async def open_one(i):
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port, ssl=tls,
                                            server_hostname="bench.test" if tls else None),
                    args.timeout)
            except Exception as e:  # noqa: BLE001 - report every kind of failure
                note(f"connect:{type(e).__name__}")
                return
            try:
                writer.write(request(args.host, args.port, i))
                status, keep = await asyncio.wait_for(read_response(reader), args.timeout)
            except Exception as e:  # noqa: BLE001
                note(f"first-request:{type(e).__name__}")
                writer.close()
                return
            if status != 200:
                note(f"first-request:status-{status}")
                writer.close()
                return
            if not keep:
                note("first-request:connection-close")
                writer.close()
                return
            conns[i] = (reader, writer)

    start = time.monotonic()
    await asyncio.gather(*(open_one(i) for i in range(args.count)))
    elapsed = time.monotonic() - start
    ok = sum(1 for c in conns if c is not None)
    failed = args.count - ok
    detail = " ".join(f"{k}={v}" for k, v in sorted(errors.items()))
    with open(args.ready_file + ".tmp", "w") as f:
        f.write(f"opened={args.count} ok={ok} failed={failed} seconds={elapsed:.1f} {detail}\n")
    os.replace(args.ready_file + ".tmp", args.ready_file)

    # Hold until SIGUSR1 (or --hold seconds).
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, wake.set)
    try:
        await asyncio.wait_for(wake.wait(), args.hold)
    except asyncio.TimeoutError:
        pass

    # Which connections did the proxy close while they idled? Reuse the others once.
    closed = 0
    reuse_errors = {}
    live = []
    for i, c in enumerate(conns):
        if c is None:
            continue
        reader, writer = c
        if reader.at_eof() or writer.is_closing() or reader._buffer:  # noqa: SLF001
            closed += 1
            writer.close()
        else:
            live.append((i, reader, writer))

    async def reuse(i, reader, writer):
        async with sem:
            try:
                writer.write(request(args.host, args.port, i))
                status, _ = await asyncio.wait_for(read_response(reader), args.timeout)
                if status != 200:
                    reuse_errors[f"status-{status}"] = reuse_errors.get(f"status-{status}", 0) + 1
                    return False
                return True
            except Exception as e:  # noqa: BLE001
                k = type(e).__name__
                reuse_errors[k] = reuse_errors.get(k, 0) + 1
                return False
            finally:
                writer.close()

    results = await asyncio.gather(*(reuse(*x) for x in live))
    reuse_ok = sum(1 for r in results if r)
    detail = " ".join(f"reuse:{k}={v}" for k, v in sorted(reuse_errors.items()))
    print(f"held={ok} closed_while_idle={closed} reuse_ok={reuse_ok} "
          f"reuse_failed={len(live) - reuse_ok} {detail}".rstrip(), flush=True)
    return 0 if failed == 0 and closed == 0 and reuse_ok == len(live) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
