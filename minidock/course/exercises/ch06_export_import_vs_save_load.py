"""Chapter 06's exercises (export/import versus save/load): one checker each."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from ...api.client import Client
from .checking import NotYet, exercise, image_or_hint, need


@exercise("06-export-import-vs-save-load", 1)
def import_with_changes(client: Client) -> str:
    """``mine:flat``, imported from snapshot.tar with a CMD and an ENV."""
    image = image_or_hint(client, "mine:flat", "import snapshot.tar as mine:flat")
    config = image.attrs["Config"]
    if config["Cmd"] != ["cat", "/hello.txt"]:
        raise NotYet(f"mine:flat's CMD is {config['Cmd']}: -c 'CMD [\"cat\", \"/hello.txt\"]'")
    if "GREETING=hi" not in (config["Env"] or []):
        raise NotYet(f"mine:flat's Env is {config['Env']}: -c 'ENV GREETING=hi'")
    if len(image.attrs["RootFS"]["Layers"]) != 1:
        raise NotYet("mine:flat has more than one layer: import the export, do not load the save")
    return "one layer, a CMD and an ENV given back by -c: what import can restore, it restores this way"


@exercise("06-export-import-vs-save-load", 2)
def what_save_holds(client: Client, layers=None, has_busybox_layer=None, archive="hello.tar") -> str:
    """``hello.tar``: a save of busybox:hello alone; how many layer tars, and busybox's among them?"""
    if not Path(archive).is_file():
        raise NotYet(f"there is no {archive} here: minidock save -o {archive} busybox:hello")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    if [m["RepoTags"] for m in manifest] != [["busybox:hello"]]:
        raise NotYet(f"{archive} holds {[m['RepoTags'] for m in manifest]}: save busybox:hello alone")
    need(layers=layers, has_busybox_layer=has_busybox_layer)
    count = len(manifest[0]["Layers"])
    if layers != count or has_busybox_layer is not True:
        raise NotYet("not quite: an image is every layer below it too; count the Layers of manifest.json")
    return f"{count} layers, busybox's included: a saved image can be loaded where busybox is not"
