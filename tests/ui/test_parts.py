"""The UI's pure parts, without an app: the graph picture, the usage chart, the
editor's form reading, the run form, formatting and redirect safety."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from werkzeug.datastructures import MultiDict

from tests.definitions import fan_out_definition, spec_example
from webapp.engine.errors import Problem
from webapp.ui import draft, editor_schema, node_forms
from webapp.ui.charts import usage_chart
from webapp.ui.formatting import format_duration, format_money, format_number
from webapp.ui.graph import render_graph
from webapp.ui.rendering import Pagination, safe_next


def boxes(svg: str) -> dict[str, tuple[float, float]]:
    """node id → (x, y) of its box, from the SVG."""
    found = {}
    for match in re.finditer(r'<title>(\w+) \([^)]*\)[^<]*</title><rect class="node-box" x="(\d+)" y="(\d+)"', svg):
        found[match.group(1)] = (float(match.group(2)), float(match.group(3)))
    return found


def test_graph_is_layered_top_to_bottom():
    svg = str(render_graph(spec_example()))
    placed = boxes(svg)
    assert placed["in"][1] < placed["draft"][1] < placed["long"][1] < placed["short"][1] < placed["out"][1]
    assert 'class="node t-conditional"' in svg and 'class="node t-output"' in svg
    assert ">true</text>" in svg and ">false</text>" in svg and 'class="edge edge-false"' in svg


def test_parallel_nodes_share_a_layer():
    placed = boxes(str(render_graph(fan_out_definition(3))))
    assert placed["m0"][1] == placed["m1"][1] == placed["m2"][1]
    assert len({placed[f"m{i}"][0] for i in range(3)}) == 3


def test_an_edge_skipping_a_layer_goes_around_the_nodes_between():
    svg = str(render_graph(spec_example()))
    false_edge = re.search(r'<path class="edge edge-false" d="([^"]+)"', svg).group(1)
    assert " L " in false_edge  # routed underneath 'short', not through it


def test_graph_colours_by_status_with_details():
    svg = str(
        render_graph(
            spec_example(), statuses={"in": "completed", "draft": "running"}, details={"in": "5 ms"}, link_prefix="run-"
        )
    )
    assert 'class="node t-input s-completed"' in svg and 'class="node t-ai_model s-running"' in svg
    assert 'class="node t-output s-pending"' in svg and ">5 ms</text>" in svg
    assert '<a href="#run-draft" id="graph-run-draft" class="node-link" data-node="draft">' in svg


def test_graph_survives_broken_drafts_and_escapes_names():
    broken = {
        "nodes": [
            {"id": "a", "type": "input"},
            {"id": "b", "type": "mystery", "name": "<script>x</script>"},
            {"id": "a"},
            "junk",
            {"type": "output"},
        ],
        "connections": [
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},
            {"from": "a", "to": "ghost"},
            {"from": "b", "to": "b"},
            7,
        ],
    }
    svg = str(render_graph(broken))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert len(boxes(svg)) == 2
    assert str(render_graph({"nodes": []})).startswith('<p class="graph-empty">')
    assert str(render_graph(None)).startswith('<p class="graph-empty">')


def test_usage_chart_has_a_bar_per_day():
    days = [
        {
            "date": (date(2025, 1, 1) + timedelta(days=n)).isoformat(),
            "total_tokens": n * 100,
            "cost_usd": n / 1000,
            "executions": n,
        }
        for n in range(30)
    ]
    svg = str(usage_chart(days, "tokens"))
    assert svg.count('<rect class="bar') == 30 and svg.count("bar-zero") == 1
    assert "Thu 30 Jan: 2,900" in svg
    assert "$0.029" in str(usage_chart(days, "cost"))
    empty = str(usage_chart([{"date": "2025-01-01", "total_tokens": 0}], "tokens"))
    assert 'class="bar bar-zero"' in empty


def test_problems_are_placed_at_the_nearest_field():
    definition = spec_example()
    forms = node_forms.node_forms(definition)
    placed, loose = node_forms.place_problems(
        [
            Problem("nodes[1].config.prompt", "bad_reference", "p"),
            Problem("nodes[4].config.fields.copy", "bad_reference", "o"),
            Problem("nodes[3].config.unknown", "invalid_value", "u"),
            Problem("connections[2].branch", "bad_branch", "b"),
            Problem("connections", "cycle", "c"),
            Problem("inputs", "invalid_value", "elsewhere"),
        ],
        forms,
        definition,
    )
    assert placed["pb-nodes-1-config-prompt"] == ["p"]
    assert placed["pb-nodes-4-config-fields-0-template"] == ["o"]
    assert placed["pb-nodes-3"] == ["u"]
    assert placed["pb-connections-2-branch"] == ["b"] and placed["pb-connections"] == ["c"]
    assert [p.message for p in loose] == ["elsewhere"]


def test_reading_values_back_keeps_their_types():
    form = MultiDict(
        [
            ("nodes[0].id", "in"),
            ("nodes[0].type", "input"),
            ("nodes[0].config.fields[0].name", "n"),
            ("nodes[0].config.fields[0].type", "number"),
            ("nodes[0].config.fields[0].default", "1.5"),
            ("nodes[0].config.fields[0].enum", "1.5, 2"),
            ("nodes[0].config.fields[0].required", "false"),
            ("nodes[0].config.fields[0].required", "true"),
            ("nodes[1].id", "gen"),
            ("nodes[1].type", "ai_model"),
            ("nodes[1].config.prompt", "{{ in.n }}"),
            ("nodes[1].config.temperature", "hot"),
            ("nodes[1].config.max_tokens", "12"),
            ("nodes[1].config.cache", "false"),
            ("nodes[1].on_error", "continue"),
            ("nodes[2].id", "cut"),
            ("nodes[2].type", "processing"),
            ("nodes[2].config.operation", "join"),
            ("nodes[2].config.input", "{{ gen.text }}"),
            ("nodes[2].config.separator", "\\n-\\t\\\\"),
            ("connections[0].from", "in"),
            ("connections[0].to", "gen"),
            ("connections[0].branch", ""),
        ]
    )
    result = draft.read_form(form).definition
    assert result["nodes"][0]["config"]["fields"][0] == {
        "name": "n",
        "type": "number",
        "required": True,
        "default": 1.5,
        "enum": [1.5, 2],
    }
    assert result["nodes"][1]["config"] == {
        "prompt": "{{ in.n }}",
        "temperature": "hot",
        "max_tokens": 12,
        "cache": False,
    }
    assert result["nodes"][1]["on_error"] == "continue"
    assert result["nodes"][2]["config"]["separator"] == "\n-\t\\"
    assert result["connections"] == [{"from": "in", "to": "gen"}]


def test_structural_actions():
    definition = spec_example()
    form = MultiDict({"new_node_type": "output", "new_node_after": "draft"})
    added = draft.apply_action(definition, "add_node", form)
    assert added["nodes"][-1] == {"id": "out_2", "type": "output", "config": {"fields": {"result": ""}}}
    assert added["connections"][-1] == {"from": "draft", "to": "out_2"}
    removed = draft.apply_action(definition, "remove_node:1", MultiDict())
    assert all("draft" not in (c["from"], c["to"]) for c in removed["connections"])
    assert draft.apply_action(definition, "remove_node:99", MultiDict()) == definition
    assert draft.apply_action(definition, "bogus:1:2", MultiDict()) == definition
    rows = draft.apply_action(definition, "add_row:4", MultiDict())
    assert rows["nodes"][4]["config"]["fields"] == {"copy": "{{ short.value if short else draft.text }}", "field": ""}
    assert definition == spec_example()  # the draft it started from is left alone


def test_connect_and_add_from_an_exit_are_edits_of_the_draft():
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "n"}]}},
            {"id": "check", "type": "conditional", "config": {"condition": "in.n"}},
            {"id": "yes", "type": "processing", "config": {"operation": "template", "template": "y"}},
            {"id": "out", "type": "output", "config": {"fields": {"r": "{{ yes.value }}"}}},
        ],
        "connections": [{"from": "in", "to": "check"}, {"from": "check", "to": "yes", "branch": "true"}],
    }

    def connections(action: str, form=None) -> list[dict]:
        return draft.apply_action(definition, action, MultiDict(form or {}))["connections"]

    assert connections("connect:yes:out")[-1] == {"from": "yes", "to": "out"}
    assert connections("connect:check:out:false")[-1] == {"from": "check", "to": "out", "branch": "false"}
    assert connections("connect:in:yes:false")[-1] == {"from": "in", "to": "yes"}  # no branches: none kept
    for refused in (
        "connect:yes:yes",
        "connect:yes:in",
        "connect:nope:out",
        "connect:yes:nope",
        "connect:check:yes:true",
    ):
        assert connections(refused) == definition["connections"], refused  # itself, into an input, unknown, twice
    added = draft.apply_action(definition, "add_from:check:false", MultiDict({"new_node_type": "processing"}))
    assert added["nodes"][-1]["id"] == "step" and added["connections"][-1] == {
        "from": "check",
        "to": "step",
        "branch": "false",
    }
    assert draft.apply_action(definition, "add_from:nope", MultiDict({"new_node_type": "processing"})) == definition


def test_a_new_map_starts_from_the_nearest_list_upstream():
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "topic"}, {"name": "urls", "type": "array"}]}},
            {"id": "call", "type": "http_request", "config": {"url": "https://example.com"}},
            {"id": "count", "type": "processing", "config": {"operation": "word_count", "input": "{{ call.text }}"}},
            {"id": "says", "type": "conditional", "config": {"condition": "true"}},
        ],
        "connections": [{"from": "in", "to": "call"}, {"from": "call", "to": "count"}, {"from": "in", "to": "says"}],
    }

    def items_after(after: str) -> str:
        form = MultiDict({"new_node_type": "map", "new_node_after": after})
        return draft.apply_action(definition, "add_node", form)["nodes"][-1]["config"]["items"]

    assert items_after("in") == "{{ in.urls }}"  # not the first field, a text
    assert items_after("call") == "{{ call.json }}"  # not its status
    assert items_after("count") == "{{ call.json }}"  # a count is never a list: the nearest one upstream
    assert items_after("says") == "{{ in.urls }}"
    assert (
        draft.apply_action(
            definition, "add_node", MultiDict({"new_node_type": "processing", "new_node_after": "call"})
        )["nodes"][-1]["config"]["template"]
        == "{{ call.status }}"
    )  # other nodes still start from the first output


def test_a_node_inserted_between_takes_over_what_followed_and_a_removed_one_is_bridged():
    definition = spec_example()  # in → draft → long → (true) short → out, (false) → out
    form = MultiDict({"new_node_type": "processing", "new_node_after": "draft", "new_node_between": "true"})
    inserted = draft.apply_action(definition, "add_node", form)["connections"]
    assert {"from": "draft", "to": "step"} in inserted and {"from": "step", "to": "long"} in inserted
    assert not any(c["from"] == "draft" and c["to"] != "step" for c in inserted)
    bridged = draft.apply_action(definition, "remove_node:3", MultiDict())["connections"]  # short
    assert {"from": "long", "to": "out", "branch": "true"} in bridged and {
        "from": "long",
        "to": "out",
        "branch": "false",
    } in bridged
    dropped = draft.apply_action(definition, "remove_node:3:alone", MultiDict())["connections"]
    assert {"from": "long", "to": "out", "branch": "true"} not in dropped


def test_references_follow_the_connections():
    assert editor_schema.references_for(spec_example(), "out") == [
        "in.product",
        "draft.text",
        "draft.model",
        "draft.usage.total_tokens",
        "draft.cost_usd",
        "long.result",
        "short.value",
    ]
    assert editor_schema.references_for(spec_example(), "in") == []
    assert editor_schema.references_for(spec_example(), "ghost") == []


def test_formatting():
    assert format_money(0) == "$0" and format_money(0.00000435) == "$0.00000435"
    assert format_money(0.0421) == "$0.0421" and format_money(12.5) == "$12.50"
    assert format_number(1234567) == "1,234,567" and format_number(None) == "—"
    assert format_duration(850) == "850 ms" and format_duration(2400) == "2.4 s"
    assert format_duration(65_000) == "1 min 5 s" and format_duration(None) == "—"


def test_safe_next_refuses_other_sites():
    assert safe_next("/workflows?page=2") == "/workflows?page=2"
    for target in (None, "", "https://evil.example", "//evil.example", "/\\evil", "javascript:x", "/api/v1/x"):
        assert safe_next(target) is None, target


def test_pagination_numbers():
    p = Pagination(page=2, per_page=10, total=25)
    assert (p.offset, p.pages, p.has_prev, p.has_next, p.first_item, p.last_item) == (10, 3, True, True, 11, 20)
    assert Pagination(1, 10, 0).pages == 1 and not Pagination(1, 10, 0).has_next


def test_the_moment_format_is_utc():
    from webapp.ui.formatting import format_datetime, format_when

    moment = datetime(2025, 3, 4, 5, 6, 7)
    assert format_datetime(moment) == "2025-03-04 05:06:07 UTC"
    assert 'datetime="2025-03-04T05:06:07.000Z"' in str(format_when(moment))


def test_connections_are_listed_in_flow_order_and_read_back_in_definition_order():
    definition = spec_example()
    definition["connections"] = list(reversed(definition["connections"]))
    rows = node_forms.connection_rows(definition)
    assert [(r["from"], r["to"]) for r in rows] == [
        ("in", "draft"),
        ("draft", "long"),
        ("long", "short"),
        ("long", "out"),
        ("short", "out"),
    ]
    assert rows[0]["path"] == "connections[4]"  # its own index, for reading it back


def test_edits_and_pickers_take_a_draft_holding_anything():
    """The JSON tab can keep any shape in a draft: no edit or picker may fail on it."""
    from webapp.ui.node_forms import node_forms
    from webapp.ui.pickers import Pickers

    odd = {
        "nodes": [
            {"id": ["a"], "type": "input", "config": {"fields": 5}},
            {"id": "b", "type": "ai_model", "config": {"provider": ["x"], "model": {"m": 1}}},
            {"id": "c", "type": "workflow", "config": {"workflow_id": ["w"], "inputs": []}},
        ],
        "connections": [{"from": ["a"], "to": "b"}, {"from": "b", "to": ["c"]}],
    }
    for action in ("connect:b:c", "add_from:b", "insert_on:0", "insert_on:1", "add_node", "remove_node:0"):
        form = MultiDict({"new_node_type": "map", "new_node_after": "b"})
        assert isinstance(draft.apply_action(odd, action, form), dict), action
    forms = node_forms(odd, Pickers(["gpt-4o-mini"], {"x": ("a",)}))
    fields = {f.name: f for form in forms for f in form.fields}
    provider = fields["nodes[1].config.provider"]
    assert (provider.value, f"{provider.value} (not one you can pick)") in provider.choices  # kept, marked
