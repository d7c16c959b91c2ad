"""slirp4netns's options and what ``info`` says of it: pure functions, no process started (the rest is
tests/test_rootless_network.py, as an unprivileged user)."""

import pytest

from minidock.errors import APIError
from minidock.runtime import slirp


def test_podman_s_network_syntax_names_the_mode_with_or_without_options():
    assert slirp.is_mode("slirp4netns") and slirp.is_mode("slirp4netns:allow_host_loopback=true")
    assert not slirp.is_mode("slirp4netnsx") and not slirp.is_mode("bridge")


def test_the_defaults_are_podman_s_and_options_change_them():
    assert slirp.parse_options("slirp4netns") == {"allow_host_loopback": False, "mtu": 65520}
    assert slirp.parse_options("slirp4netns:allow_host_loopback=true,mtu=1500") == \
        {"allow_host_loopback": True, "mtu": 1500}
    assert slirp.parse_options("slirp4netns:allow_host_loopback=false") == \
        {"allow_host_loopback": False, "mtu": 65520}


@pytest.mark.parametrize("option", ["cidr=10.9.0.0/24", "allow_host_loopback=yes", "allow_host_loopback",
                                    "mtu=65522", "mtu=67", "mtu=-1", "port_handler=slirp4netns"])
def test_an_option_minidock_does_not_honour_is_refused_by_name(option):
    with pytest.raises(APIError, match=f"invalid slirp4netns option '{option}'"):
        slirp.parse_options(f"slirp4netns:{option}")


def test_the_container_s_etc_files_name_the_host_only_where_it_can_be_reached():
    assert slirp.etc_files({"allow_host_loopback": True, "mtu": 65520}) == \
        ([["10.0.2.2", "host.containers.internal"]], "nameserver 10.0.2.3\n")
    assert slirp.etc_files({"allow_host_loopback": False, "mtu": 65520}) == ([], "nameserver 10.0.2.3\n")


def test_info_says_what_the_network_is_and_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(slirp, "executable", lambda: None)
    monkeypatch.setattr(slirp, "version", lambda: None)
    assert slirp.describe() == "loopback only (install slirp4netns for outbound connections)"
    monkeypatch.setattr(slirp, "executable", lambda: "/usr/bin/slirp4netns")
    monkeypatch.setattr(slirp, "version", lambda: "1.2.0")
    monkeypatch.setattr(slirp, "TUN", str(tmp_path / "tun"))   # a pod without the TUN device
    assert slirp.describe() == f"loopback only ({tmp_path / 'tun'} is missing (slirp4netns makes tap0 with it))"
    (tmp_path / "tun").touch()
    assert slirp.unusable() is None
    assert slirp.describe() == "slirp4netns 1.2.0 (user-mode; outbound only, no container-to-container)"
