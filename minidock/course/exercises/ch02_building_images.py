"""Chapter 02's exercises (building images): one checker each."""

from __future__ import annotations


from ...api.client import Client
from .checking import NotYet, exercise, image_or_hint, need, top_layer_files


@exercise("02-building-images", 1)
def signed_commit(client: Client) -> str:
    """``mine:commit``: a container's /hello.txt committed with an author and a message."""
    image = image_or_hint(client, "mine:commit", "commit a container that wrote /hello.txt as mine:commit")
    attrs = image.attrs
    if not attrs["Author"] or not attrs["Comment"]:
        raise NotYet("mine:commit has no author or no message: commit with -a \"YOUR NAME\" and -m \"WHY\"")
    if "/hello.txt" not in top_layer_files(client, image):
        raise NotYet("mine:commit's own layer has no /hello.txt: write it in the container you commit")
    return f"by {attrs['Author']}, {attrs['Comment']!r}: who and why, but not how (that is the layer)"


@exercise("02-building-images", 2)
def three_layers(client: Client) -> str:
    """``three:1``, built from a Dockerfile FROM busybox, has exactly 3 filesystem layers."""
    image = image_or_hint(client, "three:1", "build a Dockerfile with -t three:1")
    layers = image.attrs["RootFS"]["Layers"]
    if layers[0] != client.images.get("busybox").attrs["RootFS"]["Layers"][0]:
        raise NotYet("three:1 is not built FROM busybox")
    if len(layers) != 3:
        raise NotYet(f"three:1 has {len(layers)} layers: busybox brings one; RUN, COPY and ADD add one each "
                     "when they change files, and so does a WORKDIR that makes its directory, as in Docker "
                     "(ENV, CMD, LABEL, ... change the config only)")
    steps = len(image.history())
    if steps == 3:
        raise NotYet("every step of three:1 added a layer: add one that changes only the config (ENV, LABEL, CMD)")
    return f"3 layers in {steps} steps: {steps - 3} of them changed the config only"


@exercise("02-building-images", 3)
def only_the_cmd(client: Client, cached=None) -> str:
    """``ouruser/sinatra:v5``: only the CMD changed; how many steps came from the cache."""
    v5 = image_or_hint(client, "ouruser/sinatra:v5", "change the Dockerfile's CMD, then build -t ouruser/sinatra:v5")
    v4 = client.images.get("ouruser/sinatra:v4")
    if v5.attrs["Config"]["Cmd"] == v4.attrs["Config"]["Cmd"]:
        raise NotYet("v5 runs the same CMD as v4: change the CMD line of sinatra/Dockerfile")
    if v5.attrs["RootFS"] != v4.attrs["RootFS"]:
        raise NotYet("v5's layers differ from v4's: change only the CMD line, nothing else")
    need(cached=cached)
    if cached != 5:
        raise NotYet(f"cached={cached}: count the 'Using cache' lines of your build (FROM has none)")
    return "5 steps from the cache, a new CMD step, the same 4 layers: a config change adds no layer"
