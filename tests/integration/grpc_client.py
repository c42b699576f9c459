#!/usr/bin/python3
"""A gRPC client on Debian's python3-grpcio, for the gRPC end-to-end tests through ringproxy.

usage: grpc_client.py PORT SCENARIO
Calls test.Echo (tests/integration/grpc_origin.py) through 127.0.0.1:PORT over cleartext
HTTP/2 and prints what it saw, one "key value" line each:
  unary        "code OK", "reply olleh", "trailer done"
  bidi         each reply as it comes, each sent only after the previous reply: "reply ONE" ...
  deadline     "code DEADLINE_EXCEEDED" for a 300 ms deadline on a 3 s call, "elapsed_ms N"
  fail         "code NOT_FOUND", "details no such thing"
  unavailable  the code of a unary call (all backends down: UNAVAILABLE)
"""
import queue
import sys
import time

import grpc


def code_of(call_or_error):
    return call_or_error.code().name


def main():
    port, scenario = sys.argv[1], sys.argv[2]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    unary = channel.unary_unary("/test.Echo/Unary")
    if scenario == "unary":
        reply, call = unary.with_call(b"hello", timeout=10)
        print("code", code_of(call))
        print("reply", reply.decode())
        for key, value in call.trailing_metadata():
            if key == "x-trailer":
                print("trailer", value)
    elif scenario == "bidi":
        sends = queue.Queue()

        def requests():
            while (message := sends.get()) is not None:
                yield message

        call = channel.stream_stream("/test.Echo/Bidi")(requests(), timeout=10)
        for word in (b"one", b"two", b"three"):
            sends.put(word)
            print("reply", next(call).decode(), flush=True)  # before the next is sent
        sends.put(None)
        rest = list(call)
        print("rest", len(rest))
        print("code", code_of(call))
    elif scenario == "deadline":
        start = time.monotonic()
        try:
            channel.unary_unary("/test.Echo/Slow")(b"x", timeout=0.3)
            print("code OK")
        except grpc.RpcError as e:
            print("code", code_of(e))
        print("elapsed_ms", int((time.monotonic() - start) * 1000))
    elif scenario == "fail":
        try:
            channel.unary_unary("/test.Echo/Fail")(b"x", timeout=10)
            print("code OK")
        except grpc.RpcError as e:
            print("code", code_of(e))
            print("details", e.details())
    elif scenario == "unavailable":
        try:
            unary(b"x", timeout=10)
            print("code OK")
        except grpc.RpcError as e:
            print("code", code_of(e))
            print("details", e.details())
    channel.close()


if __name__ == "__main__":
    main()
