#!/usr/bin/env python3
"""Prints `CommandSpec` entries for protocols/src/redis/command/table/ from a live redis-server.

Usage: command-spec.py [--port 6379] NAME [NAME ...]
Starts nothing: point it at a redis-server 7.0.15 (e.g. `redis-server --port 7777 --save ''`).
Container commands (CLIENT, OBJECT...) print their subcommands first as a `const` array.
"""
import argparse
import socket


def resp_read(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise ValueError(line)


def call(sock, f, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return resp_read(f)


def pairs(flat):
    return dict(zip(flat[::2], flat[1::2]))


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spec(info, docs, indent, sub_const=None):
    name, arity, flags, first, last, step, acl = info[:7]
    pad = " " * indent
    lines = [
        f"{pad}CommandSpec {{",
        f"{pad}    name: {rust_str(name)},",
        f"{pad}    arity: {arity},",
        f"{pad}    flags: &[{', '.join(rust_str(x) for x in flags)}],",
        f"{pad}    first_key: {first},",
        f"{pad}    last_key: {last},",
        f"{pad}    step: {step},",
        f"{pad}    acl_categories: &[{', '.join(rust_str(x) for x in acl)}],",
        f"{pad}    summary: {rust_str(docs.get('summary', ''))},",
        f"{pad}    since: {rust_str(docs.get('since', ''))},",
        f"{pad}    group: {rust_str(docs.get('group', ''))},",
        f"{pad}    complexity: {rust_str(docs.get('complexity', ''))},",
        f"{pad}    subcommands: {('&' + sub_const) if sub_const else '&[]'},",
        f"{pad}}},",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port))
    f = sock.makefile("rb")
    for name in args.names:
        info = call(sock, f, "COMMAND", "INFO", name)[0]
        docs = pairs(call(sock, f, "COMMAND", "DOCS", name)[1])
        subs = info[9] if len(info) > 9 else []
        sub_const = None
        if subs:
            sub_const = name.upper() + "_SUBCOMMANDS"
            sub_docs = pairs(docs.get("subcommands", []))
            print(f"const {sub_const}: [CommandSpec; {len(subs)}] = [")
            for sub in subs:
                print(spec(sub, pairs(sub_docs.get(sub[0], [])), 4))
            print("];")
        print(spec(info, docs, 4, sub_const))


if __name__ == "__main__":
    main()
