#!/usr/bin/env python3
"""A recording TCP proxy, used to capture real distcc exchanges as test fixtures.

Usage: record-proxy.py LISTEN_PORT TARGET_PORT OUT_PREFIX
Each accepted connection N is forwarded to 127.0.0.1:TARGET_PORT; the bytes the
client sent are written to OUT_PREFIX.N.request and the server's reply to
OUT_PREFIX.N.reply. Loopback only. Exits after 60 s without connections.
"""
import socket
import sys
import threading


def pump(src, dst, sink):
    while True:
        data = src.recv(65536)
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        sink.write(data)
        dst.sendall(data)


def main():
    listen_port, target_port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(16)
    srv.settimeout(60)
    n = 0
    while True:
        try:
            client, _ = srv.accept()
        except socket.timeout:
            return
        server = socket.create_connection(("127.0.0.1", target_port))
        with open(f"{prefix}.{n}.request", "wb") as req, open(f"{prefix}.{n}.reply", "wb") as rep:
            t = threading.Thread(target=pump, args=(client, server, req))
            t.start()
            pump(server, client, rep)
            t.join()
        client.close()
        server.close()
        n += 1


if __name__ == "__main__":
    main()
