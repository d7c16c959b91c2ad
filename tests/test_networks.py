"""User-defined networks: containers reach each other by name on theirs, not across; connect and
disconnect live; rm, prune; nothing left behind; docker-py and both docker CLIs against the daemon.

Each test has its own default bridge, its own subnet for it and its own pool for user networks
(``MINIDOCK_BRIDGE``, ``MINIDOCK_SUBNET``, ``MINIDOCK_NETWORK_POOL``), so it collides with
no other test running at the same time, nor with the host's bridges.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import minidock
from minidock.errors import Conflict, Forbidden, InvalidParameter, NotFound
from minidock.runtime import network
from tests.test_daemon import Daemon, clis

pytestmark = pytest.mark.root

MINIDOCK = [sys.executable, "-m", "minidock"]
SERVE = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
# (no "wget -T" with a name: the static busybox crashes in its resolver under that alarm)


def _free(candidates) -> ipaddress.IPv4Network:
    """The first candidate that overlaps no route of the host (another test's bridge, say)."""
    routes = [r for _, r in network.host_routes() if r.prefixlen > 0]
    return next(c for c in candidates if not any(c.overlaps(r) for r in routes))


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """This test's own default bridge, subnet and user-network pool; after it: no link, no lease left."""
    tag = f"{os.getpid() & 0xFFFFFF:06x}"
    monkeypatch.setenv("MINIDOCK_BRIDGE", f"mdn{tag}")
    monkeypatch.setenv("MINIDOCK_SUBNET", str(_free(ipaddress.IPv4Network(f"10.198.{(os.getpid() + k) % 256}.0/24")
                                                    for k in range(256))))
    monkeypatch.setenv("MINIDOCK_NETWORK_POOL", str(_free(ipaddress.IPv4Network(f"10.197.{16 * ((os.getpid() + k) % 16)}.0/20")
                                                          for k in range(16))))
    store = tmp_path / "store"
    monkeypatch.setenv("MINIDOCK_ROOT", str(store))
    yield store
    records = json.loads((store / "networks.json").read_text()) if (store / "networks.json").exists() else {}
    ours = {f"mdn{tag}"} | {"br-" + nid[:12] for nid in records}
    deadline = time.monotonic() + 5   # a dead namespace's veth goes a moment later (a kernel work queue)
    while ours & set(os.listdir("/sys/class/net")) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftover = ours & set(os.listdir("/sys/class/net"))
    for link in leftover:
        network.remove_bridge(link)
    assert not leftover
    run = Path(os.environ["MINIDOCK_RUN"])
    assert all(not json.loads(f.read_text()) for f in run.glob("*/leases.json"))


@pytest.fixture
def engine(nets, busybox_store):
    import shutil
    shutil.copytree(busybox_store, nets)
    client = minidock.Client(nets)
    made = []
    create = client.containers.containers.create
    client.containers.containers.create = lambda *a, **k: made.append(create(*a, **k)) or made[-1]
    yield client
    for c in client.containers.list(all=True):
        c.remove(force=True)
    for n in client.networks.list():
        if n.name not in ("bridge", "host", "none"):
            n.remove()
    veths = {network.veth_names(cid, f"eth{i}")[0] for cid in made for i in range(3)}
    deadline = time.monotonic() + 5
    while veths & set(os.listdir("/sys/class/net")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not veths & set(os.listdir("/sys/class/net"))


def test_veth_names_of_every_interface_fit_ifnamsiz():
    cid = "0123456789abcdef" * 4
    names = {n for i in range(10) for n in network.veth_names(cid, f"eth{i}")}
    assert len(names) == 20 and max(map(len, names)) <= 15   # IFNAMSIZ - 1


def sh(container, script: str) -> tuple[int, str]:
    result = container.exec_run(["sh", "-c", script])
    return result.exit_code, result.output.decode()


def test_names_on_a_user_network_and_isolation(engine):
    front = engine.networks.create("front", labels={"tier": "web"})
    back = engine.networks.create("back", internal=True)
    assert front.attrs["IPAM"]["Config"][0]["Subnet"] != back.attrs["IPAM"]["Config"][0]["Subnet"]
    assert ipaddress.IPv4Network(front.attrs["IPAM"]["Config"][0]["Subnet"]).subnet_of(
        ipaddress.IPv4Network(os.environ["MINIDOCK_NETWORK_POOL"]))
    web = engine.containers.run("busybox", ["sh", "-c", SERVE], name="web", detach=True, network="front")
    cli = engine.containers.run("busybox", "sleep 60", name="cli", detach=True, network="front")
    code, out = sh(cli, "ping -c1 -W2 web && wget -qO- http://web/ && wget -qO- http://%s/" % web.short_id)
    assert code == 0, out
    assert f"hello-from-{web.short_id}" in out and "1 packets received" in out
    # the default bridge resolves no names, and another network neither resolves nor reaches web
    plain = engine.containers.run("busybox", "sleep 60", name="plain", detach=True)
    other = engine.containers.run("busybox", "sleep 60", name="other", detach=True, network="back")
    web_ip = web.attrs["NetworkSettings"]["Networks"]["front"]["IPAddress"]
    for stranger in (plain, other):
        code, out = sh(stranger, "ping -c1 -W1 web")
        assert code != 0 and "bad address" in out, out
        code, out = sh(stranger, f"wget -qO- -T2 http://{web_ip}/")
        assert code != 0 and "hello" not in out, out
    assert sh(other, "ip route")[1].count("default") == 0   # --internal: no way out
    # inspect, both ways
    attrs = engine.networks.get("front").attrs
    assert attrs["Labels"] == {"tier": "web"} and attrs["Driver"] == "bridge" and attrs["Scope"] == "local"
    assert {v["Name"] for v in attrs["Containers"].values()} == {"web", "cli"}
    assert attrs["Containers"][web.id]["IPv4Address"] == f"{web_ip}/24"
    settings = web.attrs["NetworkSettings"]["Networks"]["front"]
    assert settings["NetworkID"] == front.id and settings["MacAddress"] == network.mac_for(web_ip)
    assert settings["Gateway"] == front.attrs["IPAM"]["Config"][0]["Gateway"] and len(settings["EndpointID"]) == 64
    assert f"br-{front.id[:12]}" in os.listdir("/sys/class/net")
    # rm with endpoints: 409 and docker's words
    with pytest.raises(Conflict, match=f"error while removing network: network front id {front.id} has active endpoints"):
        front.remove()
    for c in (web, cli):
        c.remove(force=True)
    front.remove()
    with pytest.raises(NotFound, match="network front not found"):
        engine.networks.get("front")


def test_connect_and_disconnect_live(engine):
    engine.networks.create("mesh")
    db = engine.containers.run("busybox", "sleep 60", name="db", detach=True, network="mesh")
    app = engine.containers.run("busybox", "sleep 60", name="app", detach=True)
    assert sh(app, "ping -c1 -W1 db")[0] != 0
    engine.networks.get("mesh").connect(app, aliases=["api"])
    code, out = sh(app, "ip -o addr show eth1 && ping -c1 -W2 db")
    assert code == 0, out
    code, out = sh(db, "ping -c1 -W2 api && ping -c1 -W2 app")
    assert code == 0, out
    networks = app.attrs["NetworkSettings"]["Networks"]
    assert set(networks) == {"bridge", "mesh"} and networks["mesh"]["Aliases"] == ["api", app.short_id]
    with pytest.raises(Forbidden, match="already exists in network mesh"):
        engine.networks.get("mesh").connect(app)
    engine.networks.get("mesh").disconnect(app)
    code, out = sh(app, "ip -o link")
    assert "eth1" not in out
    assert sh(db, "ping -c1 -W1 app")[0] != 0
    assert set(app.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
    # a stopped container: connected now, cabled at its next start
    app.stop(timeout=0)
    engine.networks.get("mesh").connect(app)
    app.start()
    code, out = sh(app, "ping -c1 -W2 db")
    assert code == 0, out
    with pytest.raises(Forbidden, match="is not connected"):
        engine.networks.get("bridge").disconnect(db)
    engine.networks.get("bridge").disconnect(db, force=True)   # --force: fine


def test_publish_on_a_user_network(engine):
    engine.networks.create("pub")
    web = engine.containers.run("busybox", ["sh", "-c", SERVE], detach=True, network="pub",
                                ports={"80/tcp": ("127.0.0.1", None)})
    port = web.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as r:
                assert r.read().startswith(b"hello-from-")
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_create_refusals_and_prune(engine):
    nets = engine.containers.containers.networks
    with pytest.raises(Conflict, match="network with name bridge already exists"):
        nets.create("bridge")
    with pytest.raises(Forbidden, match="bridge is a pre-defined network and cannot be removed"):
        nets.remove("bridge")
    with pytest.raises(InvalidParameter, match="invalid subnet"):
        nets.create("x", "10.1.2.300/24")
    with pytest.raises(InvalidParameter, match="no matching subnet for gateway"):
        nets.create("x", str(_free(ipaddress.IPv4Network(f"10.196.{k}.0/24") for k in range(256))), "10.0.0.1")
    with pytest.raises(Forbidden, match="Pool overlaps"):
        nets.create("x", os.environ["MINIDOCK_SUBNET"])
    with pytest.raises(InvalidParameter, match="invalid network name"):
        nets.create("../etc")
    with pytest.raises(minidock.errors.APIError, match="does not support enable_ipv6"):
        engine.networks.create("v6", enable_ipv6=True)
    busy = engine.networks.create("busy", check_duplicate=True, scope="local")
    with pytest.raises(minidock.errors.APIError, match="does not support ipv4_address"):
        busy.connect(engine.containers.create("busybox", "true"), ipv4_address="10.0.0.9")
    engine.networks.create("idle", labels={"keep": "no"})
    engine.containers.run("busybox", "sleep 60", detach=True, network="busy")
    assert engine.networks.prune(filters={"label": ["keep=yes"]}) == {"NetworksDeleted": []}
    assert engine.networks.prune() == {"NetworksDeleted": ["idle"]}
    assert {n.name for n in engine.networks.list()} == {"bridge", "host", "none", "busy"}
    assert [n.name for n in engine.networks.list(filters={"type": "custom"})] == ["busy"]
    assert [n.name for n in engine.networks.list(filters={"driver": "null"})] == ["none"]
    assert busy.reload().containers


def test_a_failed_start_leaves_nothing(engine):
    """The second network's cabling fails (a veth, no bridge, holds its bridge's name, and is left alone):
    the start fails with one line, and the first network's lease and veth are gone too."""
    engine.networks.create("first")
    second = engine.networks.create("second")
    box = engine.containers.create("busybox", "sleep 60", network="first")
    engine.networks.get("second").connect(box)
    impostor = f"br-{second.id[:12]}"
    peer = f"mdi{os.getpid() & 0xFFFFFF:06x}"
    subprocess.run(["ip", "link", "add", impostor, "type", "veth", "peer", "name", peer], check=True)
    try:
        with pytest.raises(minidock.errors.APIError, match=f"cannot make bridge {impostor}: a link of another kind"):
            box.start()
        assert box.attrs["State"]["Status"] != "running"
        run = Path(os.environ["MINIDOCK_RUN"])
        assert all(box.id not in json.loads(f.read_text()) for f in run.glob("*/leases.json"))
        assert impostor in os.listdir("/sys/class/net")   # minidock deletes only bridges
    finally:
        subprocess.run(["ip", "link", "del", impostor], check=True)
    # a network removed under a stopped container: its start says so, and holds nothing
    engine.networks.get("second").disconnect(box)
    engine.networks.get("first").remove()
    with pytest.raises(NotFound, match="network first not found"):
        box.start()


def test_two_engines_one_subnet(engine, busybox_store, tmp_path):
    """Two stores know nothing of each other's networks: the second bridge on a subnet in use is refused."""
    import shutil
    shutil.copytree(busybox_store, tmp_path / "other")
    other = minidock.Client(tmp_path / "other")
    subnet = str(_free(ipaddress.IPv4Network(f"10.196.{k}.0/24") for k in range(256)))
    engine.networks.create("same", ipam={"Config": [{"Subnet": subnet}]})
    theirs = other.networks.create("same", ipam={"Config": [{"Subnet": subnet}]})
    engine.containers.run("busybox", "sleep 60", detach=True, network="same")
    box = other.containers.create("busybox", "sleep 60", network="same")
    try:
        with pytest.raises(minidock.errors.APIError, match=f"subnet {subnet} overlaps with the host's route"):
            box.start()
        assert f"br-{theirs.id[:12]}" not in os.listdir("/sys/class/net")
    finally:
        box.remove(force=True)
        theirs.remove()


def test_minidock_cli(engine):
    def md(*args):
        return subprocess.run(MINIDOCK + list(args), capture_output=True, text=True, timeout=60)
    made = md("network", "create", "--label", "a=b", "clinet")
    assert made.returncode == 0 and len(made.stdout.strip()) == 64, made.stderr
    listed = md("network", "ls")
    assert listed.stdout.split("\n")[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert any(line.split()[1:] == ["clinet", "bridge", "local"] for line in listed.stdout.splitlines())
    run = md("run", "-d", "--name", "srv", "--network", "clinet", "--network-alias", "www", "busybox", "sleep", "60")
    assert run.returncode == 0, run.stderr
    ping = md("run", "--rm", "--network", "clinet", "busybox", "ping", "-c1", "-W2", "www")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    refused = md("network", "rm", "clinet")
    assert refused.returncode == 1 and "has active endpoints" in refused.stderr
    assert md("network", "inspect", "-f", "{{.Name}} {{.Driver}}", "clinet").stdout == "clinet bridge\n"
    assert md("run", "-d", "--name", "visitor", "busybox", "sleep", "60").returncode == 0
    assert md("network", "connect", "--alias", "guest", "clinet", "visitor").returncode == 0
    assert md("exec", "srv", "ping", "-c1", "-W2", "guest").returncode == 0
    assert md("network", "disconnect", "clinet", "visitor").returncode == 0
    assert md("exec", "srv", "ping", "-c1", "-W1", "guest").returncode != 0
    again = md("network", "disconnect", "clinet", "visitor")
    assert again.returncode == 1 and "is not connected to network clinet" in again.stderr
    assert md("rm", "-f", "visitor").returncode == 0
    assert md("rm", "-f", "srv").returncode == 0
    assert md("network", "prune", "-f").stdout == "Deleted Networks:\nclinet\n\n"
    bad = md("run", "--rm", "--network", "nosuch", "busybox", "true")
    assert bad.returncode == 125 and "network nosuch not found" in bad.stderr


# -- the daemon: docker-py and the docker CLIs ----------------------------------------


@pytest.fixture
def daemon(engine, tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    assert d.stop() == 0


def test_the_api_refuses_bad_requests(daemon):
    cases = [("POST", "/networks/create", {"Name": 5}, 400),
             ("POST", "/networks/create", {"Name": "x", "IPAM": {"Config": [{"Subnet": "10.0.0.300/24"}]}}, 400),
             ("POST", "/networks/create", {"Name": "x", "EnableIPv6": True}, 400),
             ("POST", "/networks/create", {"Name": "x", "Driver": "overlay"}, 400),
             ("POST", "/networks/create", {"Name": "bridge"}, 409),
             ("DELETE", "/networks/none", None, 403),
             ("GET", "/networks/nosuch", None, 404),
             ("GET", "/networks?filters=" + urllib.request.quote('{"colour":["red"]}'), None, 400),
             ("POST", "/networks/bridge/connect", {}, 400),
             ("POST", "/networks/bridge/connect", {"Container": "nosuch"}, 404),
             ("POST", "/networks/prune?filters=" + urllib.request.quote('{"until":["1h"]}'), None, 400)]
    for method, path, body, status in cases:
        got, data = daemon.request(method, "/v1.41" + path, json.dumps(body).encode() if body is not None else None,
                                   {"Content-Type": "application/json"})
        assert got == status, (path, body, data)
        assert json.loads(data)["message"] and b"Traceback" not in data
    got, data = daemon.request("GET", "/v1.41/networks?filters=" + urllib.request.quote('{"type":["builtin"]}'))
    assert got == 200 and sorted(n["Name"] for n in json.loads(data)) == ["bridge", "host", "none"]


@pytest.mark.peers("docker")
def test_docker_py(daemon):
    import docker
    client = docker.DockerClient(base_url=daemon.env["DOCKER_HOST"])
    try:
        net = client.networks.create("pynet", driver="bridge", labels={"by": "docker-py"})
        assert client.networks.get("pynet").id == net.id
        assert "pynet" in [n.name for n in client.networks.list()]
        assert [n.name for n in client.networks.list(filters={"label": "by=docker-py"})] == ["pynet"]
        with pytest.raises(docker.errors.APIError) as taken:
            client.networks.create("pynet")
        assert taken.value.status_code == 409
        web = client.containers.run("busybox", ["sh", "-c", SERVE], name="pyweb", detach=True, network="pynet")
        box = client.containers.run("busybox", "sleep 60", name="pybox", detach=True)
        net.connect(box, aliases=["pyalias"])
        out = box.exec_run(["wget", "-qO-", "http://pyweb/"])
        assert out.exit_code == 0 and out.output.startswith(b"hello-from-"), out.output
        assert web.exec_run(["ping", "-c1", "-W2", "pyalias"]).exit_code == 0
        net.reload()
        assert {c.name for c in net.containers} == {"pyweb", "pybox"}
        box.reload()
        assert set(box.attrs["NetworkSettings"]["Networks"]) == {"bridge", "pynet"}
        with pytest.raises(docker.errors.APIError) as busy:
            net.remove()
        assert busy.value.status_code == 409 and "has active endpoints" in str(busy.value)
        net.disconnect(box)
        assert box.exec_run(["ping", "-c1", "-W1", "pyweb"]).exit_code != 0
        for c in (web, box):
            c.remove(force=True)
        gone = client.networks.create("gone")
        gone.remove()
        assert "gone" not in [n.name for n in client.networks.list()]
        client.networks.create("unused")
        assert sorted(client.networks.prune()["NetworksDeleted"]) == ["pynet", "unused"]
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("pynet")
    finally:
        client.close()


@pytest.mark.peers("docker")
@pytest.mark.parametrize("cli", clis())
def test_docker_cli(daemon, cli):
    def docker(*args):
        r = daemon.docker(cli, *args)
        return r.returncode, r.stdout.decode(), r.stderr.decode()
    code, out, err = docker("network", "create", "--subnet", "10.195.7.0/24", "--gateway", "10.195.7.254", "dnet")
    assert code == 0 and len(out.strip()) == 64, err
    code, out, _ = docker("network", "ls")
    assert out.split("\n")[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert "dnet" in out and "host" in out and "none" in out
    code, out, _ = docker("network", "inspect", "dnet")
    attrs = json.loads(out)[0]
    assert attrs["IPAM"]["Config"] == [{"Subnet": "10.195.7.0/24", "Gateway": "10.195.7.254"}]
    code, out, err = docker("run", "-d", "--name", "dweb", "--network", "dnet", "--network-alias", "site",
                            "busybox", "sh", "-c", SERVE)
    assert code == 0, err
    code, out, err = docker("run", "--rm", "--network", "dnet", "busybox", "wget", "-qO-", "http://site/")
    assert code == 0 and out.startswith("hello-from-"), err
    code, out, err = docker("run", "--rm", "busybox", "ping", "-c1", "-W1", "dweb")
    assert "bad address 'dweb'" in out + err   # the default bridge resolves no names
    code, _, err = docker("network", "rm", "dnet")
    assert code == 1 and "has active endpoints" in err
    code, out, err = docker("run", "-d", "--name", "dbox", "busybox", "sleep", "60")
    assert code == 0, err
    assert docker("network", "connect", "dnet", "dbox")[0] == 0
    code, out, err = docker("exec", "dbox", "ping", "-c1", "-W2", "dweb")
    assert code == 0, out + err
    code, out, _ = docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "dbox")
    assert out.split() == ["bridge", "dnet"]
    assert docker("network", "disconnect", "dnet", "dbox")[0] == 0
    assert docker("exec", "dbox", "ping", "-c1", "-W1", "dweb")[0] != 0
    assert docker("rm", "-f", "dweb", "dbox")[0] == 0
    code, out, err = docker("network", "rm", "dnet")
    assert (code, out) == (0, "dnet\n"), err
    code, _, err = docker("network", "rm", "dnet")
    assert code == 1 and ("No such network: dnet" in err or "network dnet not found" in err)   # 20.10, 28
