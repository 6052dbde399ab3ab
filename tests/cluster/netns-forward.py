#!/usr/bin/env python3
"""TCP forwarder from the host's loopback into a network namespace (tests/cluster/cluster.sh up --real).

  netns-forward.py LISTEN_PORT NETNS_FILE TARGET_HOST TARGET_PORT

Listens on 127.0.0.1:LISTEN_PORT in the network namespace it was started in (the host's) and connects each
accepted connection to TARGET_HOST:TARGET_PORT inside the network namespace NETNS_FILE (/run/netns/NAME). The
kube-apiserver of a real-node cluster is reachable from the host this way, with no interface, route or iptables
rule on the host. setns(2) applies to the calling thread only, so each connection's thread enters the namespace
before it creates its socket, and the listening socket stays in the host namespace.
"""

import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(client, ns_fd, target):
    try:
        if libc.setns(ns_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
    except OSError as e:
        print(f"netns-forward: cannot reach {target[0]}:{target[1]}: {e}", file=sys.stderr, flush=True)
        client.close()
        return
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main():
    port, ns_file, host, target_port = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    ns_fd = os.open(ns_file, os.O_RDONLY)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    print(f"netns-forward: 127.0.0.1:{port} -> {host}:{target_port} in {ns_file}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=handle, args=(client, ns_fd, (host, target_port)), daemon=True).start()


if __name__ == "__main__":
    main()
