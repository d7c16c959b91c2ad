"""The attach stream: stdout, stderr and the exit code as frames on one socket (Docker's ``stdcopy``).

A frame is an 8-byte header, the stream (1 stdout, 2 stderr) in its first byte and the payload's
length big-endian in its last four, then the payload: what the Engine API's attach endpoint sends
for a container without a TTY.  The shim adds stream 3, the exit code, as its last frame.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

STDOUT, STDERR, EXIT = 1, 2, 3


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame."""
    return struct.pack(">BxxxL", stream, len(data)) + data


class FrameReader:
    """Parses stdcopy frames from bytes that arrive in arbitrary pieces."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add bytes; return the (stream, payload) frames now complete."""
        self.buf += data
        frames = []
        while len(self.buf) >= 8:
            stream, size = struct.unpack(">BxxxL", self.buf[:8])
            if len(self.buf) < 8 + size:
                break
            frames.append((stream, self.buf[8:8 + size]))
            self.buf = self.buf[8 + size:]
        return frames


def read_frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """(stream, data) for each frame the shim sends, until it hangs up."""
    reader = FrameReader()
    while chunk := sock.recv(65536):
        yield from reader.feed(chunk)


def collect(sock: socket.socket) -> tuple[bytes, bytes, int]:
    """All of an attached container's stdout, stderr and its exit code."""
    out, err, code = [], [], 255
    for stream, data in read_frames(sock):
        if stream == EXIT:
            code = int(data)
        else:
            (out if stream == STDOUT else err).append(data)
    sock.close()
    return b"".join(out), b"".join(err), code
