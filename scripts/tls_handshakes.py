#!/usr/bin/python3
"""TLS handshake load for scripts/bench-tls: PROCESSES processes, each handshaking as fast as it
can for SECONDS seconds against 127.0.0.1:PORT, resuming one session (a ticket) on every
connection (--resume) or not (a full handshake every time: unlike wrk, which resumes a TLS 1.3
session whenever the server gave it a fresh ticket). With --request, each connection also
sends `GET /bench?bytes=256` with `Connection: close` and reads the response to its end.
Prints `handshakes=N resumed=N seconds=S`.

  scripts/tls_handshakes.py --port 18443 --seconds 10 --processes 4 [--resume] [--request] [--tls1.2]
"""

import argparse
import multiprocessing
import socket
import ssl
import time


def context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if args.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def first_session(args, ctx):
    """A session with its ticket: TLS 1.3 tickets come after the handshake, so ask for a page."""
    with socket.create_connection(("127.0.0.1", args.port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="bench.test") as tls:
            tls.sendall(b"GET /s?bytes=2 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            while tls.recv(65536):
                pass
            return tls.session


def worker(args, results):
    ctx = context(args)
    session = first_session(args, ctx) if args.resume else None
    done = resumed = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        with socket.create_connection(("127.0.0.1", args.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="bench.test", session=session) as tls:
                if args.request:
                    tls.sendall(b"GET /bench?bytes=256 HTTP/1.1\r\nHost: bench.test\r\n"
                                b"Connection: close\r\n\r\n")
                    while tls.recv(65536):
                        pass
                done += 1
                resumed += tls.session_reused
    results.put((done, resumed))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--request", action="store_true")
    p.add_argument("--tls1.2", dest="tls12", action="store_true")
    args = p.parse_args()
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(args, results))
             for _ in range(args.processes)]
    start = time.monotonic()
    for proc in procs:
        proc.start()
    totals = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    print(f"handshakes={sum(t[0] for t in totals)} resumed={sum(t[1] for t in totals)} "
          f"seconds={time.monotonic() - start:.2f}")


if __name__ == "__main__":
    main()
