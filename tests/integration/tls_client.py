#!/usr/bin/python3
"""A TLS client on Python's ssl module, for the TLS integration tests.

usage: tls_client.py PORT SERVER_NAME CAFILE PATH
GETs PATH twice over two connections, the second resuming the first's session, and prints
"status N", "version V", "alpn P", "reused BOOL" and the first response's body.
"""
import socket
import ssl
import sys


def get(port, name, context, path, session=None):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=name, session=session) as tls:
            request = f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            return data.decode(errors="replace"), tls.version(), tls.selected_alpn_protocol(), \
                tls.session, tls.session_reused


def main():
    port, name, cafile, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])  # an HTTP/1.1 client (h2: h2_frames.py)
    response, version, alpn, session, _ = get(port, name, context, path)
    _, _, _, _, reused = get(port, name, context, path, session)
    print("status", response.split(" ", 2)[1])
    print("version", version)
    print("alpn", alpn)
    print("reused", reused)
    print(response.split("\r\n\r\n", 1)[1])


if __name__ == "__main__":
    main()
