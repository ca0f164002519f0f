"""Models: LiteLLMModel against a local fake OpenAI server, ScriptedModel, resolve_model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from smoldepot_jupyter.models import (
    LiteLLMModel,
    Model,
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelResponse,
    ModelUnavailableError,
    NoModelConfigured,
    ScriptedModel,
    ScriptExhausted,
    flatten_message_content,
    resolve_model,
)
from smoldepot_jupyter.usage import TokenUsage

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import Failure, FakeOpenAIServer, Reply

# litellm reads pydantic attributes pydantic 2.11 deprecated; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm.*")

KEY = "sk-test-not-real"
HI = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


def model_for(server: FakeOpenAIServer, **kwargs) -> LiteLLMModel:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("retry_base_delay", 0.01)
    return LiteLLMModel("openai/test-model", api_base=server.base_url, **kwargs)


# ----------------------------------------------------------------- LiteLLMModel: streaming


def test_streaming_deltas_arrive_in_order_and_join_to_the_text(server):
    text = "Thought: add them.\n```python\nprint(1 + 2)\n```"
    server.script(Reply(text, chunk_size=3))
    deltas: list[str] = []

    response = model_for(server).generate(HI, on_delta=deltas.append)

    assert len(deltas) > 5
    assert "".join(deltas) == text
    assert response.text == text
    assert response.finish_reason == "stop"
    assert response.model_id == "openai/test-model"
    assert response.seconds > 0
    assert server.requests[0].body["stream"] is True
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert server.requests[0].body["messages"] == HI


def test_usage_is_collected_including_cached_tokens(server):
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 7,
        "total_tokens": 127,
        "prompt_tokens_details": {"cached_tokens": 96},
    }
    server.script(Reply("ok", usage=usage))

    response = model_for(server).generate(HI)

    assert response.usage == TokenUsage(120, 7, 96)


def test_anthropic_style_cache_read_tokens_count_as_cached(server):
    usage = {
        "prompt_tokens": 50,
        "completion_tokens": 3,
        "total_tokens": 53,
        "cache_read_input_tokens": 32,
    }
    server.script(Reply("ok", usage=usage))

    assert model_for(server).generate(HI).usage == TokenUsage(50, 3, 32)


def test_stream_without_usage_is_counted_by_tokenizer_and_marked_estimated(server):
    server.script(Reply("a reply whose usage the server never sends", usage=None))

    response = model_for(server).generate(HI)

    assert response.text == "a reply whose usage the server never sends"
    assert response.usage.estimated is True
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0


def test_reported_usage_is_not_marked_estimated(server):
    server.script(Reply("ok"))

    assert model_for(server).generate(HI).usage.estimated is False


def test_stop_when_cuts_the_stream_early(server):
    action = "```python\nx = 1\n```"
    server.script(Reply(action + " and then a lot more" * 50, chunk_size=1, chunk_delay=0.002))

    response = model_for(server).generate(HI, stop_when=lambda text: text.endswith("\n```"))

    assert response.text == action
    assert response.finish_reason == "stop_when"
    assert server.wait_for(lambda: server.requests[0].disconnected)
    assert not server.requests[0].finished


def test_max_tokens_is_sent(server):
    server.script(Reply("a"), Reply("b"))
    model = model_for(server)

    model.generate(HI)
    model.generate(HI, max_tokens=64)

    assert server.requests[0].body["max_tokens"] == 2048
    assert server.requests[1].body["max_tokens"] == 64


def test_stop_sequences_are_sent_to_an_openai_compatible_server(server):
    server.script(Reply("done"))

    model_for(server).generate(HI, stop=["Observation:", "<end_code>"])

    assert server.requests[0].body["stop"] == ["Observation:", "<end_code>"]


def test_text_after_a_stop_sequence_is_dropped_when_the_server_ignores_stop(server):
    server.script(Reply("print(1)\nObservation: invented by the model", chunk_size=5))
    deltas: list[str] = []

    response = model_for(server).generate(HI, stop=["Observation:"], on_delta=deltas.append)

    assert response.text == "print(1)\n"
    assert response.finish_reason == "stop"
    assert "invented" not in "".join(deltas)


def test_stop_is_not_sent_where_the_provider_rejects_it(server):
    server.script(Reply("answer\nObservation: more"))
    model = LiteLLMModel("openai/gpt-5", api_base=server.base_url, api_key=KEY)

    response = model.generate(HI, stop=["Observation:"])

    assert "stop" not in server.requests[0].body
    assert response.text == "answer\n"


def test_temperature_and_extra_completion_kwargs_are_sent(server):
    server.script(Reply("ok"))

    model_for(server, temperature=0.2, top_p=0.5).generate(HI)

    assert server.requests[0].body["temperature"] == 0.2
    assert server.requests[0].body["top_p"] == 0.5


def test_tool_call_deltas_assemble_into_tool_calls(server):
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "search", "arguments": json.dumps({"query": "cats", "n": 3})},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "final_answer", "arguments": '{"answer": 42}'},
        },
    ]
    server.script(Reply("", tool_calls=calls, chunk_size=3))

    response = model_for(server).generate(HI, tools=TOOLS)

    assert server.requests[0].body["tools"] == TOOLS
    assert response.tool_calls == [
        {"id": "call_a", "name": "search", "arguments": {"query": "cats", "n": 3}},
        {"id": "call_b", "name": "final_answer", "arguments": {"answer": 42}},
    ]
    assert response.finish_reason == "tool_calls"


def test_invalid_tool_arguments_are_kept_as_the_raw_string(server):
    call = {"id": "c", "type": "function", "function": {"name": "search", "arguments": "{oops"}}
    server.script(Reply("", tool_calls=[call]))

    response = model_for(server).generate(HI, tools=TOOLS)

    assert response.tool_calls == [{"id": "c", "name": "search", "arguments": "{oops"}]


def test_flatten_messages_as_text_flattens_list_content(server):
    server.script(Reply("ok"))
    parts = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]

    model_for(server, flatten_messages_as_text=True).generate([{"role": "user", "content": parts}])

    assert server.requests[0].body["messages"] == [{"role": "user", "content": "first\nsecond"}]


def test_list_content_is_kept_for_hosted_models_by_default(server):
    server.script(Reply("ok"))
    parts = [{"type": "text", "text": "first"}]
    model = model_for(server, flatten_messages_as_text=False)

    model.generate([{"role": "user", "content": parts}])

    assert server.requests[0].body["messages"][0]["content"] == parts


def test_flattening_replaces_images_only_when_asked_to():
    parts = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}]

    assert flatten_message_content(parts, drop_images=False) == parts
    assert flatten_message_content(parts) == "look\n[image omitted: this model takes text only]"


def test_litellm_mock_response_path_works():
    model = LiteLLMModel("openai/gpt-4o-mini", api_key=KEY, mock_response="hello from the mock")
    deltas: list[str] = []

    response = model.generate(HI, on_delta=deltas.append)

    assert response.text == "hello from the mock"
    assert "".join(deltas) == "hello from the mock"


def test_a_local_server_needs_no_api_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.script(Reply("ok"))

    response = LiteLLMModel("openai/test-model", api_base=server.base_url).generate(HI)

    assert response.text == "ok"


# ----------------------------------------------------------------- LiteLLMModel: failures


def test_rate_limit_then_success_is_retried(server):
    server.script(Failure(429, "slow down"), Reply("made it"))

    response = model_for(server).generate(HI)

    assert response.text == "made it"
    assert len(server.requests) == 2


def test_retry_after_header_is_honoured(server):
    server.script(Failure(429, "slow down", headers={"Retry-After": "0.4"}), Reply("ok"))
    started = time.monotonic()

    model_for(server).generate(HI)

    gap = server.requests[1].received_at - server.requests[0].received_at
    assert gap >= 0.38
    assert time.monotonic() - started < 3


def test_server_errors_exhaust_retries_into_model_unavailable(server):
    server.script(*[Failure(500, "boom")] * 3)

    with pytest.raises(ModelUnavailableError) as caught:
        model_for(server, num_retries=2).generate(HI)

    assert len(server.requests) == 3
    assert "(3 attempts failed)" in str(caught.value)
    assert "boom" in str(caught.value)


def test_a_retry_after_longer_than_a_minute_gives_up_at_once(server):
    server.script(Failure(429, "daily quota used", headers={"Retry-After": "3600"}))

    with pytest.raises(ModelUnavailableError, match="retry after 3600 s"):
        model_for(server).generate(HI)

    assert len(server.requests) == 1


def test_a_stream_that_breaks_after_text_was_shown_is_not_retried(server):
    server.script(Reply("partial answer that stalls", chunk_size=4, stall_after=3, stall=1.0))
    deltas: list[str] = []

    with pytest.raises(ModelUnavailableError, match="broke after 8 characters"):
        model_for(server, timeout=0.2).generate(HI, on_delta=deltas.append)

    assert "".join(deltas) == "partial "
    assert len(server.requests) == 1


def test_auth_failure_is_not_retried_and_hides_the_key(server):
    server.script(Failure(401, f"Incorrect API key provided: {KEY}"), Reply("never"))

    with pytest.raises(ModelAuthError) as caught:
        model_for(server).generate(HI)

    assert len(server.requests) == 1
    message = str(caught.value)
    assert "authentication failed for model 'openai/test-model'" in message
    assert "api_key" in message
    assert KEY not in "".join(traceback.format_exception(caught.value))


def test_missing_key_for_a_hosted_model_says_which_variable_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    with pytest.raises(ModelAuthError, match="set OPENAI_API_KEY"):
        LiteLLMModel("openai/gpt-4o-mini", num_retries=3).generate(HI)


def test_unknown_model_raises_model_not_found_without_retry(server):
    server.script(Failure(404, "The model `test-model` does not exist", code="model_not_found"))

    with pytest.raises(ModelNotFoundError, match="check the id"):
        model_for(server).generate(HI)

    assert len(server.requests) == 1


def test_ollama_style_model_not_found_bad_request_is_model_not_found(server):
    server.script(Failure(400, "model 'qwen9' not found, try pulling it first"))

    with pytest.raises(ModelNotFoundError):
        model_for(server).generate(HI)

    assert len(server.requests) == 1


def test_unknown_provider_raises_model_not_found():
    with pytest.raises(ModelNotFoundError, match="prefix the id"):
        LiteLLMModel("nosuchprovider/some-model").generate(HI)


def test_slow_server_times_out_into_model_unavailable(server):
    server.script(Reply("late", delay=1.0), Reply("late", delay=1.0))

    with pytest.raises(ModelUnavailableError, match="timeout"):
        model_for(server, timeout=0.2, num_retries=1).generate(HI)

    assert len(server.requests) == 2


def test_connection_refused_asks_whether_the_server_runs():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = LiteLLMModel(
        "openai/test-model",
        api_base=f"http://127.0.0.1:{port}/v1",
        api_key=KEY,
        num_retries=1,
        retry_base_delay=0.01,
    )

    with pytest.raises(ModelUnavailableError, match="running"):
        model.generate(HI)


def test_litellm_is_imported_lazily_and_offline():
    code = (
        "import os, sys\n"
        "from smoldepot_jupyter.models import LiteLLMModel, resolve_model\n"
        "LiteLLMModel('openai/x'); resolve_model('openai/y')\n"
        "print('litellm' in sys.modules, os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )

    assert result.stdout.split() == ["False", "None"]


# ----------------------------------------------------------------- resolve_model


def test_resolve_model_returns_a_model_instance_as_is():
    model = ScriptedModel(["hi"])

    assert resolve_model(model) is model


def test_resolve_model_turns_a_string_into_a_litellm_model(monkeypatch):
    monkeypatch.delenv("SMOLDEPOT_API_BASE", raising=False)

    model = resolve_model("anthropic/claude-sonnet-4-5")

    assert isinstance(model, LiteLLMModel)
    assert model.model_id == "anthropic/claude-sonnet-4-5"
    assert model.api_base is None


def test_a_model_id_given_is_served_from_smoldepot_api_base(monkeypatch):
    # given a local server named in the environment
    monkeypatch.setenv("SMOLDEPOT_API_BASE", "http://127.0.0.1:8080/v1")

    # when the model id is given (--model, SmolDepot.model) rather than taken from SMOLDEPOT_MODEL
    model = resolve_model("openai/qwen")

    # then that server serves it
    assert (model.model_id, model.api_base) == ("openai/qwen", "http://127.0.0.1:8080/v1")


def test_an_api_base_given_wins_over_smoldepot_api_base(monkeypatch):
    monkeypatch.setenv("SMOLDEPOT_API_BASE", "http://127.0.0.1:8080/v1")

    model = resolve_model("openai/qwen", "http://127.0.0.1:9999/v1")

    assert model.api_base == "http://127.0.0.1:9999/v1"


def test_resolve_model_reads_the_environment(monkeypatch):
    monkeypatch.setenv("SMOLDEPOT_MODEL", "ollama_chat/qwen2.5-coder")
    monkeypatch.setenv("SMOLDEPOT_API_BASE", "http://localhost:11434")

    model = resolve_model()

    assert isinstance(model, LiteLLMModel)
    assert (model.model_id, model.api_base) == (
        "ollama_chat/qwen2.5-coder",
        "http://localhost:11434",
    )


def test_resolve_model_without_configuration_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("SMOLDEPOT_MODEL", raising=False)

    with pytest.raises(NoModelConfigured) as caught:
        resolve_model()

    message = str(caught.value)
    for expected in (
        "SMOLDEPOT_MODEL=openai/gpt-4o-mini",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "ollama_chat/",
        "http://localhost:11434",
        "http://127.0.0.1:8080/v1",
        '%config SmolDepot.model = "',
    ):
        assert expected in message
    assert isinstance(caught.value, ModelError)


# ----------------------------------------------------------------- ScriptedModel


def test_scripted_model_plays_replies_in_order_and_records_deep_copies():
    model = ScriptedModel(["first", "second"])
    messages = [{"role": "user", "content": "task"}]

    first = model.generate(messages)
    messages.append({"role": "assistant", "content": first.text})
    second = model.generate(messages)
    messages[0]["content"] = "changed afterwards"

    assert (first.text, second.text) == ("first", "second")
    assert model.calls == [
        [{"role": "user", "content": "task"}],
        [{"role": "user", "content": "task"}, {"role": "assistant", "content": "first"}],
    ]
    assert isinstance(model, Model)


def test_scripted_model_running_out_says_how_many_calls_were_scripted():
    model = ScriptedModel(["only"])
    model.generate(HI)

    with pytest.raises(ScriptExhausted, match="call 2 but only 1 replies were scripted"):
        model.generate(HI)


def test_scripted_model_takes_a_callable():
    model = ScriptedModel(lambda messages: f"you said {messages[-1]['content']}")

    assert model.generate(HI).text == "you said hi"


def test_scripted_model_streams_in_chunks_and_honours_stop_when():
    reply = "Thought: go.\n```python\nprint(2)\n```\nand some rambling after the action"
    deltas: list[str] = []

    response = ScriptedModel([reply]).generate(
        HI, on_delta=deltas.append, stop_when=lambda text: text.count("```") == 2
    )

    assert len(deltas) > 3
    assert "".join(deltas) == response.text
    assert response.text.rstrip().endswith("```")
    assert "rambling" not in response.text
    assert response.finish_reason == "stop_when"


def test_scripted_model_cuts_at_stop_sequences():
    response = ScriptedModel(["code\n<end_code>\nObservation: fake"]).generate(
        HI, stop=["<end_code>"]
    )

    assert response.text == "code\n"


def test_scripted_model_plays_model_responses_and_raises_exceptions():
    tool_call = {"id": "c1", "name": "search", "arguments": {"query": "x"}}
    model = ScriptedModel([ModelResponse(tool_calls=[tool_call]), RuntimeError("model down")])

    first = model.generate(HI, tools=TOOLS)
    with pytest.raises(RuntimeError, match="model down"):
        model.generate(HI)

    assert first.tool_calls == [tool_call]
    assert first.finish_reason == "tool_calls"
    assert len(model.calls) == 2


def test_scripted_model_usage_is_deterministic_with_a_cached_prefix():
    model = ScriptedModel(["abcdefgh", "ijkl"])
    system = {"role": "system", "content": "s" * 40}

    first = model.generate([system, {"role": "user", "content": "task"}])
    second = model.generate(
        [system, {"role": "user", "content": "task"}, {"role": "assistant", "content": "abcdefgh"}]
    )

    assert first.usage == TokenUsage(prompt_tokens=15, completion_tokens=2, cached_prompt_tokens=0)
    assert second.usage.completion_tokens == 1
    assert second.usage.cached_prompt_tokens == 14
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


# ----------------------------------------------------------------- ModelResponse


def test_model_response_round_trips_through_a_dict():
    response = ModelResponse(
        text="hi",
        tool_calls=[{"id": "c", "name": "t", "arguments": {"a": 1}}],
        usage=TokenUsage(3, 4, 1),
        model_id="m",
        finish_reason="stop",
        seconds=1.5,
    )

    data = json.loads(json.dumps(response.to_dict()))

    assert ModelResponse.from_dict(data) == response


def test_temperature_can_be_overridden_for_one_call(server):
    server.script(Reply("ok"), Reply("ok"))
    model = model_for(server)
    model.generate(HI, temperature=0.7)
    model.generate(HI)
    assert server.requests[0].body["temperature"] == 0.7
    assert "temperature" not in server.requests[1].body
