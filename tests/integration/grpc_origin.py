#!/usr/bin/python3
"""A gRPC server on Debian's python3-grpcio, for the gRPC-through-ringproxy tests.

usage: grpc_origin.py
Listens on 127.0.0.1 (cleartext HTTP/2) at a port the kernel picks and prints "port N".
Messages are raw bytes (no protobuf): the service test.Echo has
  Unary(bytes) -> bytes       the request reversed; trailing metadata x-trailer: done
  Bidi(stream) -> stream      each message echoed as it comes, upper-cased
  Slow(bytes) -> bytes        answers after 3 s (for deadlines)
  Fail(bytes) -> error        status NOT_FOUND with message "no such thing"
"""
import sys
import time
from concurrent import futures

import grpc


def unary(request, context):
    context.set_trailing_metadata((("x-trailer", "done"),))
    return request[::-1]


def bidi(requests, context):
    for message in requests:
        yield message.upper()


def slow(request, context):
    time.sleep(3)
    return request


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def main():
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("port", port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
