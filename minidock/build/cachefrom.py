"""``--cache-from``: steps reused from images built elsewhere, as Docker's classic builder reuses them.

The build cache (``build-cache.json``) knows only the steps this store ran.  An image that came from a
registry or a ``load`` brings no such cache, only its history -- and that is what dockerd's classic
builder matches against (``daemon/images/cache.go``, its ``imageCache``):

* a *source* fits a step when the image the step starts from is a prefix of it: the same history
  entries, equal field for field, and the same first layers (``isValidParent``);
* and when the source's next history entry was written by this very step: its ``created_by`` is the
  line the step would write (``isValidConfig``; for a COPY that line names the files' hash, for a RUN
  the command and the build args it sees);
* then the step is not run.  If that entry is the source's last, the source itself is the step's
  image -- so building a Dockerfile again with ``--cache-from`` the image it once made gives that very
  image, same ID (and that image's parent is from then on the build's, as ``docker history`` shows).
  Otherwise a new image is made of the parent's history and layers plus the source's
  entry (and the source's layer for it, unless the entry is an empty layer).  From then on only that
  source is followed (dockerd: "avoid jumping to different target").
* With ``--cache-from`` given, a step of the local cache counts only when its image leads to one of
  the sources (dockerd: ``isParent``); a name that is no image is skipped, as dockerd skips it -- so
  ``--cache-from`` naming no image at all turns the local cache off.
"""

from __future__ import annotations

import json

from ..errors import MinidockError


class Sources:
    """The images named by ``--cache-from`` (the API's ``cachefrom``), as (image ID, config) pairs."""

    def __init__(self, images, names) -> None:
        self.images, self.found, self.named = images, [], bool(names)
        for name in names:
            try:
                image_id = images.resolve(name)
            except MinidockError:
                continue   # dockerd: "Could not look up ... for cache resolution, skipping"
            self.found.append((image_id, images.store.blob_json(image_id)))

    def __bool__(self) -> bool:
        """Whether ``--cache-from`` was given: then it rules, even when none of its names is an image."""
        return self.named

    def lead_to(self, config: dict) -> bool:
        """Whether an image of ``config`` comes before one of the sources (strictly: an ancestor)."""
        return any(_prefix(config, source) and len(_history(config)) < len(_history(source))
                   for _, source in self.found)

    def reuse(self, parent_id: str | None, parent: dict, created_by: str, config: dict) -> tuple[str, dict] | None:
        """The image a step that writes ``created_by`` on top of ``parent`` takes from a source, or None.

        ``config``: what the step's image would be, but for its history, layers and time."""
        n = len(_history(parent))
        for source_id, source in self.found:
            entries = _history(source)
            if not (_prefix(parent, source) and n < len(entries) and entries[n].get("created_by") == created_by):
                continue
            if n == len(entries) - 1:   # the source itself, now a child of the step's parent (SetParent)
                self.found = [(source_id, source)]
                self.images.add(self.images.store.read_blob(source_id), parent=parent_id)
                return source_id, source
            restored = self._restored(parent_id, parent, source, config)
            if restored:
                self.found = [(source_id, source)]
                return restored
        return None

    def _restored(self, parent_id: str | None, parent: dict, source: dict, config: dict) -> tuple[str, dict] | None:
        """dockerd's ``restoreCachedImage``: the parent's history and layers, and the source's next of both
        (None for a source whose history counts more layers than it has)."""
        n = len(_history(parent))
        entry = _history(source)[n]
        config = json.loads(json.dumps(config))
        config.pop("container", None)
        config["history"] = [*_history(parent), entry]
        config["rootfs"] = {"type": "layers", "diff_ids": list(_diff_ids(parent))}
        if not entry.get("empty_layer"):
            layer = sum(not h.get("empty_layer") for h in _history(source)[:n])
            if layer >= len(_diff_ids(source)):
                return None
            config["rootfs"]["diff_ids"].append(_diff_ids(source)[layer])
        config["created"] = entry.get("created", config.get("created"))
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        return self.images.add(data, parent=parent_id), config


def _history(config: dict) -> list[dict]:
    return config.get("history") or []


def _diff_ids(config: dict) -> list[str]:
    return (config.get("rootfs") or {}).get("diff_ids") or []


def _prefix(parent: dict, image: dict) -> bool:
    """dockerd's ``isValidParent``: ``parent``'s history and layers begin ``image``'s (scratch begins all)."""
    if not _history(image):
        return False
    before, layers = _history(parent), _diff_ids(parent)
    if not before and not layers:
        return True
    return (len(before) < len(_history(image)) and len(layers) <= len(_diff_ids(image))
            and before == _history(image)[:len(before)] and layers == _diff_ids(image)[:len(layers)])
