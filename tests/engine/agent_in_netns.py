"""Run inside a network namespace holding only loopback (``test_outbound_netns.py``
starts it under ``unshare -n``): an agent whose model asks for an HTTP tool at a
forbidden address, through the real runner, model gateway (the loopback model server is
the server's own endpoint) and outbound client, with a loopback API server listening.
Prints, as JSON, the node's status and error, the tool steps, and the paths the API
server saw, so nothing can leave the machine whatever the guard decides."""

from __future__ import annotations

import json
import sys

from tests.engine.conftest import make_gateway
from tests.http_server import ApiServer
from tests.model_server import ModelServer
from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.expressions import Expressions
from webapp.outbound import Destinations, HttpClient


def main(hosts: list[str]) -> None:
    server, model = ApiServer().start(), ModelServer().start()
    client = HttpClient(Destinations.parse(""), 1 << 20)
    outcomes = {}
    for host in hosts:
        tool = {"name": "fetch", "http": {"url": f"http://{host}:{server.port}/{{{{ args.path }}}}"}}
        tool["parameters"] = {"type": "object", "properties": {"path": {"type": "string"}}}
        definition = {
            "nodes": [
                {"id": "in", "type": "input", "config": {"fields": []}},
                {
                    "id": "agent",
                    "type": "agent",
                    "config": {"prompt": '[[call=fetch {"path": "secret"}]]', "tools": [tool]},
                },
                {"id": "out", "type": "output", "config": {"fields": {"text": "{{ agent.text }}"}}},
            ],
            "connections": [{"from": "in", "to": "agent"}, {"from": "agent", "to": "out"}],
        }
        graph = parse_definition(definition, Expressions())
        result = runner.run(graph, {}, models=make_gateway(model.base_url, retries=0), http=client)
        record = result.records["agent"]
        outcomes[host] = {"status": record.status, "error": (record.error or {}).get("code")}
    print(json.dumps({"outcomes": outcomes, "calls": [path for _, path in server.calls], "asked": model.call_count}))
    server.stop()
    model.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
