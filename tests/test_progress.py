"""Progress bars: drawn only when someone watches (a terminal, a notebook) or asked; bytes pass through unchanged."""

from __future__ import annotations

import io
import sys

from minidock import progress


def test_bars_only_for_big_transfers_someone_watches(monkeypatch):
    monkeypatch.delenv("MINIDOCK_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not progress.wanted(100 << 20)
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as in a Jupyter kernel
    assert progress.wanted(100 << 20) and not progress.wanted(1 << 20) and not progress.wanted(None)
    monkeypatch.setenv("MINIDOCK_PROGRESS", "0")
    assert not progress.wanted(100 << 20)
    monkeypatch.setenv("MINIDOCK_PROGRESS", "1")
    assert progress.wanted(10) and progress.wanted(None)


def test_a_metered_stream_passes_every_byte_and_moves_its_bar(monkeypatch, capsys):
    monkeypatch.setenv("MINIDOCK_PROGRESS", "1")
    data = bytes(range(256)) * 4096
    with progress.metered(io.BytesIO(data), "Downloading", len(data)) as stream:
        got = b"".join(iter(lambda: stream.read(65536), b""))
        assert stream.bar.n == len(data) == stream.bar.total
    assert got == data
    assert "Downloading" in capsys.readouterr().err
