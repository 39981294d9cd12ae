#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Slow-loris client for the tests: open COUNT TCP connections to HOST:PORT, send each
an unfinished request (headers that never end), and hold them until killed.

  idle-conns.py HOST PORT COUNT --sources N --ready FILE

Connections come from N local source addresses (127.0.0.2 ... 127.0.0.N+1, round
robin), as from N clients. When every connection is tried, FILE gets
"opened K" (K: connections the server accepted at the TCP level).
"""
import argparse
import os
import resource
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--sources", type=int, default=1)
    ap.add_argument("--ready", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.count + 64), hard))
    socks, opened = [], 0
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.bind(("127.0.0.%d" % (2 + i % a.sources), 0))
            s.connect((a.host, a.port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            opened += 1
            socks.append(s)
        except OSError:
            s.close()
    with open(a.ready + ".tmp", "w") as f:
        f.write("opened %d\n" % opened)
    os.replace(a.ready + ".tmp", a.ready)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
