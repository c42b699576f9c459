"""One unary gRPC call through ringproxy with python3-grpcio (h2c, prior knowledge).

usage: grpc_call.py PORT [COUNT]
Prints one line per call: "ok" or "code NAME details TEXT"."""
import sys

import grpc

port = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
with grpc.insecure_channel("127.0.0.1:" + port) as channel:
    say = channel.unary_unary("/test.Echo/Say", request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
    for _ in range(count):
        try:
            say(b"hello", timeout=10)
            print("ok", flush=True)
        except grpc.RpcError as e:
            print("code %s details %s" % (e.code().name, e.details()), flush=True)
