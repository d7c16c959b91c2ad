"""Chapter 02's exercises (building images): one checker each, reading the images the learner made and
their history (the classic builder leaves one image per step, so what came from the cache shows)."""

from __future__ import annotations

from ...api.client import Client
from ..lang import say
from .checking import NotYet, exercise, image_or_hint, need, top_layer_files


@exercise("02-building-images", 1)
def signed_commit(client: Client) -> str:
    """``mine:commit``: a busybox container's /hello.txt committed with an author and a message."""
    image = image_or_hint(client, "mine:commit", say("commit a container that wrote /hello.txt as mine:commit",
                                                     "把一个写了 /hello.txt 的容器提交为 mine:commit"))
    attrs, busybox = image.attrs, client.images.get("busybox")
    if attrs["RootFS"]["Layers"][:-1] != busybox.attrs["RootFS"]["Layers"]:
        raise NotYet(say("mine:commit is not busybox plus one layer: commit a container run from busybox",
                         "mine:commit 不是 busybox 加一层：请提交一个由 busybox 运行的容器"))
    if "/hello.txt" not in top_layer_files(client, image):
        raise NotYet(say("mine:commit's own layer has no /hello.txt: write it in the container you commit",
                         "mine:commit 自己的那一层里没有 /hello.txt：在你要提交的容器里写这个文件"))
    if not attrs["Author"] or not attrs["Comment"]:
        raise NotYet(say("mine:commit has no author or no message: commit with -a \"YOUR NAME\" and -m \"WHY\"",
                         "mine:commit 没有作者或说明：提交时加上 -a \"你的名字\" 和 -m \"原因\""))
    return say(f"by {attrs['Author']}, {attrs['Comment']!r}: history shows the message, inspect's Author the "
               "author; who and why, but not how (that is only in the layer)",
               f"作者 {attrs['Author']}，说明 {attrs['Comment']!r}：history 显示说明，作者在 inspect 的 Author 里；"
               "记下了谁、为什么，却没有记下怎么做（那只在层里）")


@exercise("02-building-images", 2)
def three_layers(client: Client) -> str:
    """``three:1``, built from a Dockerfile FROM busybox, has exactly 3 filesystem layers."""
    image = image_or_hint(client, "three:1", say("build a Dockerfile with -t three:1",
                                                 "用 -t three:1 构建一个 Dockerfile"))
    layers = image.attrs["RootFS"]["Layers"]
    if layers[0] != client.images.get("busybox").attrs["RootFS"]["Layers"][0]:
        raise NotYet(say("three:1 is not built FROM busybox", "three:1 不是 FROM busybox 构建的"))
    if len(layers) != 3:
        raise NotYet(say(f"three:1 has {len(layers)} layers: busybox brings one; RUN, COPY and ADD add one each "
                         "when they change files, and so does a WORKDIR that makes its directory, as in Docker "
                         "(ENV, CMD, LABEL, ... change the config only)",
                         f"three:1 有 {len(layers)} 层：busybox 带来一层；RUN、COPY、ADD 改动文件时各加一层，"
                         "创建目录的 WORKDIR 也加一层，和 Docker 一样（ENV、CMD、LABEL 等只改配置）"))
    steps = len(image.history())
    if steps == 3:
        raise NotYet(say("every step of three:1 added a layer: add one that changes only the config "
                         "(ENV, LABEL, CMD)",
                         "three:1 的每一步都加了一层：再加一步只改配置的指令（ENV、LABEL、CMD）"))
    return say(f"3 layers in {steps} steps: {steps - 3} of them changed the config only",
               f"{steps} 步里有 3 层：其中 {steps - 3} 步只改了配置")


@exercise("02-building-images", 3)
def only_the_cmd(client: Client, cached=None, shared_layers=None) -> str:
    """``ouruser/sinatra:v5``: v4's Dockerfile with another CMD; the steps it took from v4, the layers it shares."""
    hint = say("change the last line of sinatra/Dockerfile (the CMD), then build it -t ouruser/sinatra:v5",
               "改掉 sinatra/Dockerfile 的最后一行（CMD），再用 -t ouruser/sinatra:v5 构建")
    v5 = image_or_hint(client, "ouruser/sinatra:v5", hint)
    v4 = image_or_hint(client, "ouruser/sinatra:v4", hint)
    if v5.attrs["Config"]["Cmd"] == v4.attrs["Config"]["Cmd"]:
        raise NotYet(say("v5 runs the same CMD as v4: change the CMD line of sinatra/Dockerfile",
                         "v5 的 CMD 和 v4 一样：改掉 sinatra/Dockerfile 里的 CMD 那一行"))
    v4_steps, v5_steps = [h["Id"] for h in v4.history()], [h["Id"] for h in v5.history()]
    if v5_steps[1:] != v4_steps[1:]:
        raise NotYet(say("v5's steps before its CMD are not v4's: change only the last line, nothing else",
                         "v5 在 CMD 之前的各步和 v4 的不同：只改最后一行，别的不动"))
    need(cached=cached, shared_layers=shared_layers)
    reused = len(v5_steps) - 2                  # every step but the base image (FROM) and the new CMD
    if cached != reused:
        raise NotYet(say(f"cached={cached}: count the steps v5 took from v4's build, the 'Using cache' lines "
                         "(FROM has none)",
                         f"cached={cached}：数一数 v5 从 v4 的构建里沿用了几步，也就是 'Using cache' 的行数"
                         "（FROM 没有这一行）"))
    shared = sum(a == b for a, b in zip(v5.attrs["RootFS"]["Layers"], v4.attrs["RootFS"]["Layers"]))
    if shared_layers != shared:
        raise NotYet(say(f"shared_layers={shared_layers}: compare the two images' RootFS.Layers",
                         f"shared_layers={shared_layers}：比较两个镜像的 RootFS.Layers"))
    return say(f"{reused} steps from the cache, a new CMD step, the same {shared} layers: a config change adds "
               "no layer",
               f"{reused} 步来自缓存，只有 CMD 是新的一步，{shared} 层完全相同：改配置不会增加层")
