"""IPv6 addresses that carry a forbidden IPv4 address are refused by what they carry,
tried for real in a network namespace holding only loopback (``unshare -n``), so a
guard that let one through could reach nothing but this machine's own loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
# Each carries a forbidden IPv4 address (in brackets: which).
FORBIDDEN = [
    "::ffff:127.0.0.1",  # mapped (127.0.0.1): on Linux this one reaches the IPv4 loopback
    "::127.0.0.1",  # compatible (127.0.0.1)
    "::ffff:0:a00:1",  # translated, RFC 2765 (10.0.0.1)
    "2002:7f00:1::",  # 6to4 (127.0.0.1)
    "2002:a9fe:a9fe::1",  # 6to4 (169.254.169.254)
    "64:ff9b::a00:1",  # NAT64, RFC 6052 (10.0.0.1)
    "64:ff9b:1::a9fe:a9fe",  # local NAT64, RFC 8215, /96 (169.254.169.254)
    "64:ff9b:1:7f00:0:100::",  # local NAT64, /48 (127.0.0.1)
    "2001:0:4136:e378:8000:63bf:80ff:fefe",  # Teredo: public server, client 127.0.1.1 (bits inverted)
    "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # Teredo: server 10.0.0.1, public client 8.8.8.8
]
# IPv4-carrying forms of a public address: the guard lets them go (and, in the namespace, they reach nothing).
PUBLIC = ["2002:808:808::", "64:ff9b::808:808"]


def in_loopback_namespace(*argv: str) -> subprocess.CompletedProcess:
    script = "ip link set lo up && exec " + " ".join(argv)
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def namespace() -> None:
    """A loopback-only network namespace can be made here (CI runs as root), or the test
    is skipped, saying why; with REQUIRE_SERVICES=1 it fails instead."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        require("a network namespace", False, "unshare or ip is not installed")
    probe = in_loopback_namespace("true")
    require("a network namespace", probe.returncode == 0, f"unshare -n is not permitted: {probe.stderr.strip()}")


def test_ipv6_forms_carrying_a_forbidden_ipv4_address_are_refused_before_any_connection(namespace):
    done = in_loopback_namespace(sys.executable, "-m", "tests.engine.outbound_in_netns", *FORBIDDEN, *PUBLIC)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == {
        **{host: "blocked_destination" for host in FORBIDDEN},
        **{host: "http_error" for host in PUBLIC},  # let through, and no route out of the namespace
    }
    assert report["calls"] == []  # the loopback server saw nothing


def test_an_agents_http_tool_to_a_forbidden_address_fails_the_node_before_any_connection(namespace):
    hosts = ["127.0.0.1", "[::ffff:127.0.0.1]", "localhost"]
    done = in_loopback_namespace(sys.executable, "-m", "tests.engine.agent_in_netns", *hosts)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == {host: {"status": "failed", "error": "blocked_destination"} for host in hosts}
    assert report["calls"] == []  # the loopback API server saw nothing
    assert report["asked"] == len(hosts)  # each agent asked its model once, and its tool went nowhere
