"""Pictures of what minidock made, each with a text twin; they only read, never change anything.

Every picture is three functions over one small data structure:
``X_of(...)`` (or ``X(...)``) reads the engine and builds it, ``X_text(data)``
prints it (what nbval checks in the notebooks), ``X_dot(data)`` returns
graphviz dot source, and ``svg(dot)`` shows that in Jupyter.

* ``layers``: ``container_union``, ``image_union``, ``union_of`` -- which layer supplies
  each path, what whiteouts and opaque directories hide (``unionfs.UnionView``);
* ``network``: ``network_of`` -- the bridge, the veth pairs, each container's eth0;
* ``namespaces``: ``namespace_map`` -- processes grouped by the inode of ``/proc/PID/ns/*``;
* ``lifecycle``: ``state_machine``, ``lifecycle_of`` -- created, running, exited, removed;
* ``steps``: ``steps_of`` -- an image's build steps, layers and config-only ones (chapter 2);
* ``registry``: ``registry_contents`` -- repositories, manifests and blobs of a registry (chapter 8);
* ``stack``: ``DOCKER_CHAIN``, ``ancestry`` -- docker CLI, dockerd, containerd, shim, runc and
  minidock's part for each; a process's parents up to PID 1 (chapter 7);
* ``widgets``: ``layer_slider``, ``container_dashboard``, ``namespace_explorer`` -- ipywidgets
  that read afresh at every move or click, each with a text twin (``layer_slider_text``,
  ``dashboard_text``, ``namespace_explorer_text``) that is also its text/plain.

``dotlang`` writes the dot text they share; ``text`` pads their columns by display width.
What they say in their own words goes through ``course.lang.say``: the edition's language;
Docker's words (commands, states, headings, fields, paths) stay as Docker prints them.
"""

from .dotlang import svg
from .layers import container_union, image_union, layers_dot, layers_text, union_of
from .lifecycle import lifecycle_dot, lifecycle_of, lifecycle_text, state_machine
from .namespaces import namespace_map, namespaces_dot, namespaces_text, shared
from .network import network_dot, network_of, network_text
from .widgets import (container_dashboard, dashboard_text, layer_slider, layer_slider_text,
    namespace_explorer, namespace_explorer_text)

__all__ = ["svg", "union_of", "image_union", "container_union", "layers_text", "layers_dot",
           "state_machine", "lifecycle_of", "lifecycle_text", "lifecycle_dot",
           "namespace_map", "shared", "namespaces_text", "namespaces_dot",
           "network_of", "network_text", "network_dot",
           "layer_slider", "layer_slider_text", "container_dashboard", "dashboard_text",
           "namespace_explorer", "namespace_explorer_text"]
