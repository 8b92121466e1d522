"""Run inside a network namespace holding only loopback (``test_outbound_netns.py``
starts it under ``unshare -n``): requests to IPv6 forms of forbidden IPv4 addresses,
through the real outbound client, with a loopback server listening. Prints, as JSON,
each URL's outcome (the error code, or the status) and the paths the server saw, so
nothing can leave the machine whatever the guard decides."""

from __future__ import annotations

import json
import sys

from tests.http_server import ApiServer
from webapp.engine.errors import NodeError
from webapp.engine.http_calls import HttpRequest
from webapp.outbound import Destinations, HttpClient


def outcome(client: HttpClient, url: str) -> str:
    request = HttpRequest(method="GET", url=url, headers={}, query={}, timeout=2, retries=0)
    try:
        return str(client.send(request).status)
    except NodeError as exc:
        return exc.code


def main(hosts: list[str]) -> None:
    server = ApiServer().start()
    client = HttpClient(Destinations.parse(""), 1 << 20)
    results = {host: outcome(client, f"http://[{host}]:{server.port}/{host}") for host in hosts}
    server.stop()
    print(json.dumps({"outcomes": results, "calls": [path for _, path in server.calls]}))


if __name__ == "__main__":
    main(sys.argv[1:])
