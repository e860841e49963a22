#!/usr/bin/env python3
"""A TCP client through weir from Python, over the C API with ctypes (no compiled glue).

    client.py LIBWEIR TAP NETNS ADDR/LEN SERVER PORT PATH SHA256

Loads libweir.so, opens the tap (inside the network namespace NETNS), takes ADDR/LEN, connects
to SERVER:PORT through the stack, sends an HTTP/1.0 GET for PATH, and checks that the body's
SHA-256 is SHA256. The loop is Python's own: select.poll on weir_stack_wait_fds, woken no later
than the stack's next timer.
"""
import ctypes
import errno
import hashlib
import os
import select
import sys
import time


class SockAddr(ctypes.Structure):
    # struct weir_sockaddr
    _fields_ = [("family", ctypes.c_uint16), ("port", ctypes.c_uint16), ("addr", ctypes.c_uint8 * 16)]


def load(path):
    lib = ctypes.CDLL(path)
    stack_p, sock_t, nic_t = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32
    signatures = {
        "weir_version": (ctypes.c_char_p, []),
        "weir_now_ns": (ctypes.c_uint64, []),
        "weir_timeout_ms": (ctypes.c_int, [ctypes.c_uint64]),
        "weir_stack_new": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(stack_p)]),
        "weir_stack_free": (None, [stack_p]),
        "weir_stack_last_error": (ctypes.c_char_p, [stack_p]),
        "weir_stack_add_tap": (ctypes.c_int, [stack_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(nic_t)]),
        "weir_stack_add_address": (ctypes.c_int, [stack_p, nic_t, ctypes.c_char_p]),
        "weir_stack_poll": (ctypes.c_ssize_t, [stack_p, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64)]),
        "weir_stack_wait_fds": (ctypes.c_ssize_t, [stack_p, ctypes.POINTER(ctypes.c_int), ctypes.c_size_t]),
        "weir_addr_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(SockAddr)]),
        "weir_tcp_socket": (ctypes.c_int, [stack_p, ctypes.c_int, ctypes.POINTER(sock_t)]),
        "weir_socket_connect": (ctypes.c_int, [stack_p, sock_t, ctypes.POINTER(SockAddr)]),
        "weir_socket_events": (ctypes.c_int, [stack_p, sock_t]),
        "weir_socket_take_error": (ctypes.c_int, [stack_p, sock_t, ctypes.POINTER(ctypes.c_int)]),
        "weir_socket_close": (ctypes.c_int, [stack_p, sock_t]),
        "weir_tcp_write": (ctypes.c_ssize_t, [stack_p, sock_t, ctypes.c_void_p, ctypes.c_size_t]),
        "weir_tcp_read": (ctypes.c_ssize_t, [stack_p, sock_t, ctypes.c_void_p, ctypes.c_size_t]),
        "weir_stack_counter": (ctypes.c_int, [stack_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64)]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


EV_WRITABLE, EV_ERROR = 0x02, 0x04


def main():
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    libpath, tap, netns, address, server, port, path, want = sys.argv[1:]
    w = load(libpath)
    stack = ctypes.c_void_p()

    def check(r, what):
        if r < 0:
            detail = w.weir_stack_last_error(stack).decode() if stack else ""
            sys.exit(f"python_ctypes: {what}: {os.strerror(-r)} {detail}")
        return r

    check(w.weir_stack_new(None, ctypes.byref(stack)), "stack")
    nic = ctypes.c_uint32()
    check(w.weir_stack_add_tap(stack, tap.encode(), netns.encode(), ctypes.byref(nic)), "tap")
    check(w.weir_stack_add_address(stack, nic, address.encode()), "address")
    peer = SockAddr()
    check(w.weir_addr_parse(f"{server}:{port}".encode(), ctypes.byref(peer)), "server address")
    sock = ctypes.c_uint64()
    check(w.weir_tcp_socket(stack, peer.family, ctypes.byref(sock)), "socket")
    r = w.weir_socket_connect(stack, sock, ctypes.byref(peer))
    if r != -errno.EINPROGRESS:
        check(r, "connect")

    request = f"GET {path} HTTP/1.0\r\nHost: {server}\r\nConnection: close\r\n\r\n".encode()
    response = bytearray()
    buf = ctypes.create_string_buffer(65536)
    deadline = ctypes.c_uint64()
    fds = (ctypes.c_int * 8)()
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        w.weir_stack_poll(stack, 0, ctypes.byref(deadline))
        events = check(w.weir_socket_events(stack, sock), "events")
        if events & EV_ERROR:
            err = ctypes.c_int()
            w.weir_socket_take_error(stack, sock, ctypes.byref(err))
            check(-err.value, "connection")
        if events & EV_WRITABLE and request:
            n = w.weir_tcp_write(stack, sock, request, len(request))
            if n > 0:
                request = request[n:]
        while (n := w.weir_tcp_read(stack, sock, buf, len(buf))) > 0:
            response += buf.raw[:n]
        if n == 0:
            break  # the server closed: the response is complete
        if n != -errno.EAGAIN:
            check(n, "read")
        poller = select.poll()
        for i in range(min(check(w.weir_stack_wait_fds(stack, fds, len(fds)), "wait fds"), len(fds))):
            poller.register(fds[i], select.POLLIN)
        poller.poll(w.weir_timeout_ms(deadline.value))
    else:
        sys.exit("python_ctypes: timed out")

    head, _, body = bytes(response).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    got = hashlib.sha256(body).hexdigest()
    segments = ctypes.c_uint64()
    check(w.weir_stack_counter(stack, b"tcp.segments_received", ctypes.byref(segments)), "counter")
    print(f"python_ctypes: libweir {w.weir_version().decode()}: {status}, {len(body)} bytes, "
          f"sha256 {got}, tcp.segments_received {segments.value}")
    w.weir_socket_close(stack, sock)
    w.weir_stack_free(stack)
    if not status.endswith("200 OK") or got != want:
        sys.exit(f"python_ctypes: FAIL: expected 200 OK and sha256 {want}")


if __name__ == "__main__":
    main()
