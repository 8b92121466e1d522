"""The loopback model server asks for tool calls when a prompt's directives say so, and
answers from the tool results once every round was asked (through the real openai SDK)."""

from __future__ import annotations

import json

import openai

TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
    for name in ("lookup", "search")
]


def test_the_model_server_asks_for_tool_calls_round_by_round_then_answers_from_their_results(model):
    client = openai.OpenAI(api_key="k", base_url=model.base_url, max_retries=0)
    prompt = 'Go [[call=lookup {"id": 7}]] [[call=search {"q": "tea"}]] [[also=lookup {"id": 8}]]'
    messages = [{"role": "user", "content": prompt}]
    asked = []
    for _ in range(3):
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
        choice = answer.choices[0]
        if not choice.message.tool_calls:
            break
        assert choice.finish_reason == "tool_calls"
        calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]
        asked.append(calls)
        messages.append(choice.message.model_dump(exclude_none=True))
        for call in choice.message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": f"result of {call.function.name}"})
    assert asked == [[("lookup", {"id": 7})], [("search", {"q": "tea"}), ("lookup", {"id": 8})]]
    assert choice.message.content == "Tools said: result of lookup | result of search | result of lookup"
    assert answer.usage.total_tokens > 0 and model.call_count == 3
