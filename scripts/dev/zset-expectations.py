#!/usr/bin/env python3
"""Prints the expected replies of tests/e2e/zset_script.txt as a Rust table, by running it
against a redis-server (after FLUSHALL!) on --port. Used to (re)generate the SCRIPT tables at
the end of protocols/src/redis/command/zset/tests.rs:

    redis-server --port P --save '' --appendonly no --daemonize yes
    scripts/dev/zset-expectations.py --port P --resp 2   # const SCRIPT
    scripts/dev/zset-expectations.py --port P --resp 3   # const SCRIPT_RESP3 (rename)
"""
import argparse
import shlex
import socket
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--resp", default="2")
parser.add_argument("--script", default=str(Path(__file__).resolve().parents[2] / "tests/e2e/zset_script.txt"))
opts = parser.parse_args()

conn = socket.create_connection(("127.0.0.1", opts.port))
stream = conn.makefile("rb")


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read():
    line = stream.readline()
    kind, out = line[:1], line
    if kind in b"*%~>":
        n = int(line[1:-2])
        for _ in range(max(n, 0) * (2 if kind == b"%" else 1)):
            out += read()
    elif kind == b"$":
        n = int(line[1:-2])
        if n >= 0:
            out += stream.read(n + 2)
    return out


def command(args):
    conn.sendall(encode(args))
    return read()


command(["FLUSHALL"])
if opts.resp == "3":
    command(["HELLO", "3"])
print("const SCRIPT: &[(&str, &[u8])] = &[")
for line in open(opts.script):
    line = line.rstrip("\n")
    if not line:
        continue
    reply = command(shlex.split(line))
    literal = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else "\\x%02x" % b for b in reply)
    quoted = '"' + line.replace("\\", "\\\\").replace('"', '\\"') + '"'
    print("    (%s, b\"%s\")," % (quoted, literal))
print("];")
