"""The archives picture on a real ``save`` and a real ``export`` of the same container."""

from __future__ import annotations

import pytest


from minidock.course.viz.archives import archive_contents, archives_dot, archives_text

pytestmark = pytest.mark.root


def test_save_beside_export(busybox, client, tmp_path):
    container = client.containers.run("busybox", ["sh", "-c", "echo hello > /hello.txt && rm /etc/passwd"],
                                      detach=True, network_mode="none")
    try:
        container.wait()
        (tmp_path / "snapshot.tar").write_bytes(b"".join(container.export()))
        container.commit("busybox", "hello")
        (tmp_path / "busybox.tar").write_bytes(b"".join(client.images.get("busybox:hello").save(named=True)))
    finally:
        container.remove(force=True)
    saved, exported = archive_contents(tmp_path / "busybox.tar"), archive_contents(tmp_path / "snapshot.tar")
    text = archives_text(saved, exported)
    rows = text.splitlines()
    assert rows[0].split()[:2] == ["busybox.tar", "(save,"] and "snapshot.tar (export," in rows[0]
    assert [e.kind for e in saved.entries].count("layer tar") == 2 and "1 whiteout" in text
    assert {e.kind for e in exported.entries} == {"file"} and "hello.txt" in text
    assert "etc/passwd" not in text  # nothing of it in the export; only a whiteout in the save's top layer
    by_kind = {row[:11].strip(): row[11:] for row in rows[1:] if row[:11].strip()}
    assert by_kind["manifest"].split()[-1] == "-" and by_kind["file"].split()[0] == "-"
    assert "manifest.json" in text and "busybox:hello" in text
    dot = archives_dot(saved, exported)
    assert dot == archives_dot(saved, exported) and '"cluster_a"' in dot and '"cluster_b"' in dot
