"""The ``http_request`` node: every option and failure, and the outbound rules,
over real HTTP to a loopback API (which the rules refuse unless it is allowed)."""

from __future__ import annotations

import ipaddress

import pytest

from tests.http_server import trickles_ended
from webapp.engine import runner
from webapp.engine.definition import parse_definition
from webapp.engine.errors import DefinitionError
from webapp.engine.expressions import Expressions
from webapp.outbound import BlockedDestination, Destinations, HttpClient, _refused

EXPRESSIONS = Expressions()
LOOPBACK = "127.0.0.1"


@pytest.fixture
def calls(api_server):
    api_server.calls.clear()
    return api_server.calls


def run_request(config: dict, *, allowed: str = LOOPBACK, inputs=None, max_bytes: int = 1 << 20, timeout=None):
    """input → http_request → output; returns the request node's record."""
    definition = {
        "nodes": [
            {"id": "in", "type": "input", "config": {"fields": [{"name": "v", "type": "string"}]}},
            {"id": "call", "type": "http_request", "config": config},
            {"id": "out", "type": "output", "config": {"template": "{{ call }}"}},
        ],
        "connections": [{"from": "in", "to": "call"}, {"from": "call", "to": "out"}],
    }
    client = HttpClient(Destinations.parse(allowed), max_bytes)
    limits = runner.Limits(timeout=timeout) if timeout else None
    result = runner.run(parse_definition(definition, EXPRESSIONS), inputs or {}, http=client, limits=limits)
    return result.records["call"]


def test_a_get_sends_rendered_query_and_headers_and_answers_status_headers_text_and_json(api_server, calls):
    record = run_request(
        {
            "url": api_server.url("/echo/{{ in.v }}"),
            "query": {"q": "{{ in.v | upper }}", "n": "2"},
            "headers": {"X-Token": "t-{{ in.v }}"},
        },
        inputs={"v": "abc"},
    )
    assert record.status == "completed", record.error
    output = record.output
    assert output["status"] == 200 and output["headers"]["x-served-by"] == "api-server"
    assert output["json"]["method"] == "GET" and output["json"]["path"] == "/echo/abc"
    assert output["json"]["query"] == {"q": "ABC", "n": "2"}
    assert output["json"]["headers"]["x-token"] == "t-abc"
    assert output["text"].startswith("{") and output["duration_ms"] > 0
    assert calls == [("GET", "/echo/abc")]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_body_rendering_to_an_object_is_sent_as_json(api_server, method):
    record = run_request(
        {"method": method, "url": api_server.url("/echo"), "body": "{{ {'name': in.v, 'tags': [1, 2]} }}"},
        inputs={"v": "Ada"},
    )
    echoed = record.output["json"]
    assert echoed["method"] == method and echoed["headers"]["content-type"] == "application/json"
    assert echoed["body"] == '{"name": "Ada", "tags": [1, 2]}'


def test_a_body_rendering_to_text_is_sent_as_text_and_a_given_content_type_wins(api_server):
    record = run_request(
        {
            "method": "POST",
            "url": api_server.url("/echo"),
            "body": "name={{ in.v }}",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        inputs={"v": "Ada"},
    )
    echoed = record.output["json"]
    assert echoed["body"] == "name=Ada" and echoed["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_a_text_answer_has_null_json(api_server):
    record = run_request({"url": api_server.url("/text")})
    assert record.output["text"] == "plain words" and record.output["json"] is None


def test_an_error_status_fails_the_node_unless_fail_on_status_is_off(api_server):
    failed = run_request({"url": api_server.url("/status/404")})
    assert failed.status == "failed" and failed.error["code"] == "http_error" and "404" in failed.error["message"]
    kept = run_request({"url": api_server.url("/status/404"), "fail_on_status": False})
    assert kept.status == "completed" and kept.output["status"] == 404 and kept.output["json"] == {"status": 404}


def test_retries_repeat_5xx_answers_until_one_succeeds(api_server, calls):
    record = run_request({"url": api_server.url("/flaky/a/2"), "retries": 2})
    assert record.status == "completed" and record.output["json"] == {"attempt": 3} and record.attempts == 3
    assert len(calls) == 3


def test_when_retries_run_out_the_last_answer_stands(api_server, calls):
    failed = run_request({"url": api_server.url("/flaky/b/5"), "retries": 1})
    assert failed.status == "failed" and failed.error["code"] == "http_error" and len(calls) == 2
    kept = run_request({"url": api_server.url("/flaky/c/5"), "retries": 1, "fail_on_status": False})
    assert kept.status == "completed" and kept.output["status"] == 503 and kept.attempts == 2


def test_a_4xx_is_never_retried(api_server, calls):
    record = run_request({"url": api_server.url("/status/400"), "retries": 3})
    assert record.status == "failed" and len(calls) == 1


def test_the_timeout_fails_a_slow_answer(api_server):
    record = run_request({"url": api_server.url("/slow?s=2"), "timeout": 0.3})
    assert record.status == "failed" and record.error["code"] == "timeout"


def test_the_run_deadline_ends_the_request_before_its_own_timeout(api_server):
    record = run_request({"url": api_server.url("/slow?s=3"), "timeout": 30}, timeout=0.5)
    assert record.status in ("failed", "cancelled") and record.error["code"] == "timeout"


@pytest.mark.parametrize("head", [False, True], ids=["body", "headers"])
def test_a_trickled_answer_ends_at_the_attempts_timeout_not_at_each_reads(api_server, head):
    """A byte every 0.5 s never trips a timeout per read; the whole answer has 1 s, and
    the connection is closed while the server still has 19 s of bytes to send."""
    api_server.drips.clear()
    url = api_server.url("/drip?every=0.5&n=40" + ("&head=1" if head else ""))
    record = run_request({"url": url, "timeout": 1})
    assert record.status == "failed" and record.error["code"] == "timeout"
    (drip,) = trickles_ended(api_server)
    assert drip.closed_after is not None, "the client hung up before the answer was over"


def test_a_trickled_answer_ends_at_the_runs_deadline(api_server):
    api_server.drips.clear()
    record = run_request({"url": api_server.url("/drip?every=0.5&n=40"), "timeout": 30}, timeout=1)
    assert record.error["code"] == "timeout"
    (drip,) = trickles_ended(api_server)
    assert drip.closed_after is not None


def test_an_answer_over_the_size_bound_fails_the_node(api_server):
    assert run_request({"url": api_server.url("/big?n=1000")}, max_bytes=1000).status == "completed"
    record = run_request({"url": api_server.url("/big?n=1001")}, max_bytes=1000)
    assert record.status == "failed" and record.error["code"] == "resource_limit"


# -- where requests may go --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, why",
    [
        ("127.0.0.1", "a loopback"),
        ("::1", "a loopback"),
        ("10.1.2.3", "a private"),
        ("172.16.0.1", "a private"),
        ("192.168.1.1", "a private"),
        ("169.254.169.254", "a link-local"),
        ("fe80::1", "a link-local"),
        ("fd12:3456::1", "a unique-local"),
        ("224.0.0.1", "a multicast"),
        ("ff02::1", "a multicast"),
        ("0.0.0.0", "an unspecified"),
        ("::", "an unspecified"),
        ("::ffff:127.0.0.1", "a loopback"),  # IPv4-mapped
        ("64:ff9b::a00:1", "a private"),  # NAT64 of 10.0.0.1
        ("100.64.0.1", "a non-public"),  # carrier-grade NAT
    ],
)
def test_every_blocked_range_is_refused(address, why):
    assert _refused(ipaddress.ip_address(address)) == why
    with pytest.raises(BlockedDestination):
        Destinations().addresses(address, 80)


def test_public_addresses_pass():
    assert _refused(ipaddress.ip_address("93.184.215.14")) is None
    assert _refused(ipaddress.ip_address("2606:4700::1111")) is None


def test_a_loopback_url_is_refused_before_anything_is_sent(api_server, calls):
    record = run_request({"url": api_server.url("/echo")}, allowed="")
    assert record.status == "failed" and record.error["code"] == "blocked_destination"
    assert "loopback" in record.error["message"] and calls == []


def test_a_name_resolving_to_a_blocked_address_is_refused(api_server, calls):
    record = run_request({"url": api_server.url("/echo", host="localhost")}, allowed="")
    assert record.error["code"] == "blocked_destination" and calls == []


def test_a_redirect_into_a_blocked_range_is_refused(api_server, calls):
    hop = api_server.url("/redirect?to=http://169.254.169.254/latest/meta-data/")
    record = run_request({"url": hop})
    assert record.error["code"] == "blocked_destination" and "link-local" in record.error["message"]
    assert calls == [("GET", "/redirect")]


def test_a_redirect_to_another_scheme_is_refused(api_server):
    record = run_request({"url": api_server.url("/redirect?to=file:///etc/passwd")})
    assert record.error["code"] == "blocked_destination"


def test_a_redirect_to_an_allowed_address_is_followed(api_server, calls):
    record = run_request({"url": api_server.url("/redirect?to=" + api_server.url("/echo/after"))})
    assert record.output["json"]["path"] == "/echo/after" and len(calls) == 2


def test_more_than_five_redirects_fail(api_server):
    url = api_server.url("/echo")
    for _ in range(6):
        url = api_server.url("/redirect?to=") + url.replace("?", "%3F").replace("=", "%3D").replace("&", "%26")
    record = run_request({"url": url})
    assert record.error["code"] == "http_error" and "redirects" in record.error["message"]


def test_the_allow_list_opens_a_host_name_an_address_or_a_range(api_server):
    by_name = run_request({"url": api_server.url("/echo", host="localhost")}, allowed="localhost")
    assert by_name.status == "completed"
    assert run_request({"url": api_server.url("/echo")}, allowed="localhost").error["code"] == "blocked_destination"
    assert run_request({"url": api_server.url("/echo")}, allowed="127.0.0.0/8").status == "completed"
    assert run_request({"url": api_server.url("/echo")}, allowed="10.0.0.0/8").error["code"] == "blocked_destination"


def test_a_url_rendering_to_another_scheme_is_refused_at_run_time():
    record = run_request({"url": "{{ in.v }}"}, inputs={"v": "file:///etc/passwd"})
    assert record.error["code"] == "blocked_destination"


def test_the_options_are_checked_as_the_definition_is_read():
    definition = {
        "nodes": [
            {
                "id": "call",
                "type": "http_request",
                "config": {"method": "TRACE", "url": "ftp://example.com/", "timeout": 0, "retries": 11, "body": 3},
            },
            {"id": "out", "type": "output", "config": {"template": "{{ call.status }}"}},
        ],
        "connections": [{"from": "call", "to": "out"}],
    }
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, EXPRESSIONS)
    paths = {p.path: p.code for p in caught.value.problems}
    assert paths == {
        "nodes[0].config.method": "invalid_value",
        "nodes[0].config.url": "invalid_value",
        "nodes[0].config.timeout": "invalid_value",
        "nodes[0].config.retries": "invalid_value",
        "nodes[0].config.body": "invalid_value",
    }
