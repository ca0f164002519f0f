"""smolagents code runs here: its arguments, results, callbacks, memory and models, mapped.

Where smolagents 1.26 behaves observably the same, the test runs its agent on the same script
(a fake smolagents `Model`) and compares. Everything else: a `ScriptedModel` and real kernels.
"""

from __future__ import annotations

import base64
import inspect
import io

import numpy as np
import pytest
import smolagents
import smolagents.memory
import smolagents.utils
from PIL import Image
from smolagents.models import (
    ChatMessage,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    MessageRole,
    get_tool_json_schema,
)
from smolagents.monitoring import LogLevel
from smolagents.monitoring import TokenUsage as SmolTokenUsage

from smoldepot_jupyter import CodeAgent, RunResult, ScriptedModel, ToolCallingAgent, tool
from smoldepot_jupyter.agents import RunFailed
from smoldepot_jupyter.agents.smolagents_compat import KERNEL_OPTIONS
from smoldepot_jupyter.events import ConsolePrinter
from smoldepot_jupyter.kernel import KernelExecutor, SandboxUnavailable, bwrap_problem
from smoldepot_jupyter.memory import ActionStep, FinalAnswerStep, PlanningStep, TaskStep
from smoldepot_jupyter.models import ModelResponse, ModelUnavailableError, SmolagentsModel


def code(body: str, thought: str = "I act.") -> str:
    return f"Thought: {thought}\n```python\n{body}\n```"


@tool
def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    return a * b


class SmolScript(smolagents.Model):
    """A smolagents model playing a script, as smolagents' own tests fake one; it keeps what
    each call was given."""

    def __init__(self, replies, usage=(10, 5)):
        super().__init__(model_id="smol-script")
        self.replies = list(replies)
        self.usage = usage
        self.calls = []

    def generate(self, messages, stop_sequences=None, **kwargs):
        self.calls.append({"messages": messages, "stop_sequences": stop_sequences, **kwargs})
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, ChatMessage):
            return reply
        return ChatMessage(
            role=MessageRole.ASSISTANT, content=reply, token_usage=SmolTokenUsage(*self.usage)
        )


def smolagents_agent(replies, **options):
    """smolagents' own CodeAgent on a script, quiet."""
    return smolagents.CodeAgent([], SmolScript(replies), verbosity_level=LogLevel.OFF, **options)


def png(color: str = "red") -> Image.Image:
    return Image.new("RGB", (4, 4), color)


@pytest.fixture(scope="module")
def sidecar():
    with KernelExecutor(interrupt_grace=2) as executor:
        yield executor


@pytest.fixture
def make_agent(sidecar, tmp_path):
    """A CodeAgent on the shared sidecar, recording into tmp_path."""
    agents = []

    def make(replies, tools=(), **options):
        options.setdefault("record_dir", tmp_path / "runs")
        options.setdefault("executor", sidecar)
        model = replies if not isinstance(replies, list) else ScriptedModel(replies)
        agent = CodeAgent(list(tools), model, **options)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()


# ----------------------------------------------------------------- imports


def test_additional_authorized_imports_are_smolagents_base_modules_plus_those_listed(make_agent):
    # given smolagents code that adds numpy to the imports
    agent = make_agent(
        [
            code("import statistics, numpy\nprint(statistics.mean([1, 2]), numpy.int64(3))"),
            code("import csv"),
            code("final_answer('done')"),
        ],
        additional_authorized_imports=["numpy"],
    )
    # when the model imports a base module and numpy, then one it was not allowed
    result = agent.run("Import things.")
    # then the list is smolagents' own, and only the unlisted import is refused
    theirs = smolagents_agent([], additional_authorized_imports=["numpy"]).authorized_imports
    assert agent.authorized_imports == theirs
    assert set(smolagents.utils.BASE_BUILTIN_MODULES) < set(agent.authorized_imports)
    first, second = (s for s in result.steps if isinstance(s, ActionStep) and not s.is_final_answer)
    assert first.observation == "1.5 3"
    assert "Import of csv is not allowed" in second.observation
    assert "numpy" in agent.system_prompt()


def test_a_star_in_additional_authorized_imports_allows_any_import(make_agent):
    # given additional_authorized_imports=["*"], smolagents' "any import"
    agent = make_agent(
        [code("import csv\nfinal_answer(csv.__name__)")], additional_authorized_imports=["*"]
    )
    # when the model imports a module no list names
    result = agent.run("Import csv.")
    # then it runs: any import is allowed, as with our authorized_imports=None
    assert agent.authorized_imports is None
    assert (result.state, result.output) == ("success", "csv")


def test_both_import_lists_at_once_is_an_error():
    # given both our whole list and smolagents' additions
    # when the agent is made, then it says to choose one
    with pytest.raises(ValueError, match="not both"):
        CodeAgent(
            [],
            ScriptedModel([]),
            authorized_imports=["math"],
            additional_authorized_imports=["numpy"],
            record_dir=None,
        )


# ----------------------------------------------------------------- executors


def test_executor_type_local_runs_at_our_default_level(tmp_path):
    # given smolagents' default executor type
    agent = CodeAgent(
        [], ScriptedModel([code("final_answer(1)")]), executor_type="local", record_dir=tmp_path
    )
    with agent:
        # when a run's code executes
        result = agent.run("One.")
        # then it ran in a sidecar at our default level, "auto"
        assert agent.executor.sandbox.requested == "auto"
    assert result.output == 1


@pytest.mark.parametrize("executor_type", ["docker", "e2b", "modal", "blaxel", "wasm"])
def test_remote_executor_types_run_in_the_bwrap_sandbox(executor_type, tmp_path):
    # given a smolagents executor that would run the code elsewhere
    def make():
        return CodeAgent(
            [],
            ScriptedModel([code("import os\nfinal_answer(os.getpid())")]),
            executor_type=executor_type,
            record_dir=tmp_path,
        )

    if bwrap_problem() is not None:
        # where bubblewrap cannot run, asking for it is an error naming the fix
        with pytest.raises(SandboxUnavailable):
            make()
        return
    with make() as agent:
        # when the code runs
        result = agent.run("Your pid?")
        # then it ran in the local bubblewrap sandbox (its own pid namespace: a small pid)
        assert (agent.executor.sandbox.requested, agent.executor.sandbox.level) == ("bwrap",) * 2
    assert result.state == "success" and result.output < 100


def test_unknown_executor_type_is_an_error_listing_the_accepted_ones():
    # given an executor type smolagents does not have either
    # when the agent is made, then the error lists the accepted types (and our sandbox levels)
    with pytest.raises(ValueError) as error:
        CodeAgent([], ScriptedModel([]), executor_type="kubernetes", record_dir=None)
    for name in ("'local'", "'docker'", "'e2b'", "'modal'", "'blaxel'", "'wasm'", "sandbox="):
        assert name in str(error.value)
    with pytest.raises(ValueError, match="Unsupported executor type"):
        smolagents_agent([], executor_type="kubernetes")  # smolagents refuses it as well


def test_executor_kwargs_reach_the_kernel_executor(tmp_path):
    # given executor kwargs: network on, a folder to see, smolagents' time limit
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.txt").write_text("hello from the host")
    replies = [
        code(f"print(open({str(shared / 'note.txt')!r}).read())"),
        code("import time\ntime.sleep(30)"),
        code("final_answer('ok')"),
    ]
    agent = CodeAgent(
        [],
        ScriptedModel(replies),
        executor_kwargs={"network": True, "sandbox_paths": [str(shared)], "timeout_seconds": 2},
        record_dir=tmp_path / "runs",
    )
    with agent:
        # when the code reads the folder and then runs past the limit
        result = agent.run("Read the note, then wait.")
        description = agent.sandbox_description()
    # then the kernel executor had them: the folder visible, the action stopped at 2 s
    read, waited = [s for s in result.steps if isinstance(s, ActionStep)][:2]
    assert read.observation == "hello from the host"
    assert agent.step_timeout == 2.0 and waited.execution.timed_out
    if agent.executor.sandbox.level == "bwrap":
        assert "network on" in description and str(shared) in description


def test_every_executor_kwarg_accepted_is_a_kernel_executor_argument():
    # given the keys executor_kwargs accepts
    # when they are looked up in KernelExecutor's signature
    parameters = inspect.signature(KernelExecutor).parameters
    # then each is one of its arguments (the error message never names a key that fails)
    assert [key for key in KERNEL_OPTIONS if key not in parameters] == []


def test_unknown_executor_kwargs_are_an_error_naming_the_accepted_keys():
    # given smolagents' Docker executor arguments, which mean nothing to a local kernel
    # when the agent is made, then the error names them and the keys we accept
    with pytest.raises(ValueError) as error:
        CodeAgent(
            [],
            ScriptedModel([]),
            executor_type="docker",
            executor_kwargs={"image_name": "jupyter-kernel", "port": 8888},
            record_dir=None,
        )
    message = str(error.value)
    assert "image_name, port" in message
    for key in ("network", "sandbox_paths", "limits", "timeout_seconds"):
        assert key in message


def test_executor_kwargs_with_a_given_executor_is_an_error(sidecar):
    # given an executor of one's own and executor kwargs for the one the agent would start
    # when the agent is made, then it says to configure the executor given
    with pytest.raises(ValueError, match="configure that one"):
        CodeAgent(
            [],
            ScriptedModel([]),
            executor=sidecar,
            executor_kwargs={"network": True},
            record_dir=None,
        )


# ----------------------------------------------------------------- run() and its result


def test_run_takes_smolagents_arguments_in_its_order(make_agent):
    # given smolagents' order: task, stream, reset, images, additional_args, max_steps
    agent = make_agent([code("final_answer(given * 2)")])
    # when run is called with them by position
    result = agent.run("Double it.", False, True, None, {"given": 21}, 3)
    # then each meant what it means in smolagents
    assert isinstance(result, RunResult)
    assert (result.state, result.output) == ("success", 42)


def test_return_full_result_false_returns_the_answer_alone(make_agent):
    # given smolagents' default, on the agent and on one run
    replies = [code("x = 2\nprint(x)"), code("final_answer(x * 3)")]
    agent = make_agent(list(replies), return_full_result=False)
    other = make_agent(list(replies))
    # when each runs
    alone = agent.run("Six.")
    per_run = other.run("Six.", return_full_result=False)
    # then the answer comes alone, as smolagents returns it (the result stays in last_result)
    assert alone == per_run == smolagents_agent(list(replies)).run("Six.") == 6
    assert isinstance(agent.last_result, RunResult) and agent.last_result.output == 6


def test_the_default_result_stays_a_run_result(make_agent):
    # given an agent made without return_full_result
    agent = make_agent([code("final_answer(6)")])
    # when it runs
    result = agent.run("Six.")
    # then it returns our RunResult (smolagents' default would be the answer alone)
    assert isinstance(result, RunResult) and result.output == 6
    full = smolagents_agent([code("final_answer(6)")]).run("Six.", return_full_result=True)
    assert (full.output, full.state) == (result.output, result.state)


def test_an_answer_alone_that_never_came_raises_run_failed(make_agent):
    # given a run asked for its answer alone, and a model that fails
    agent = make_agent([ModelUnavailableError("the provider is down")], return_full_result=False)
    # when it runs, then it raises with the whole result rather than return nothing
    with pytest.raises(RunFailed, match="the provider is down") as failed:
        agent.run("Anything.")
    assert failed.value.result.state == "error"


def test_images_given_to_run_are_shown_to_the_model_with_the_task(make_agent, tmp_path):
    # given pictures as smolagents users pass them (PIL images), and as bytes and a path
    saved = tmp_path / "blue.png"
    png("blue").save(saved)
    buffer = io.BytesIO()
    png("green").save(buffer, format="PNG")
    agent = make_agent([code("final_answer('red, green, blue')")])
    # when the run starts
    result = agent.run("Name the colours.", images=[png("red"), buffer.getvalue(), saved])
    # then the task message carries the three pictures, and the task step keeps them
    task_message = agent.model.calls[0][1]
    parts = task_message["content"]
    assert parts[0] == {"type": "text", "text": "New task:\nName the colours."}
    urls = [p["image_url"]["url"] for p in parts[1:]]
    assert len(urls) == 3 and all(u.startswith("data:image/png;base64,") for u in urls)
    first = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",")[1])))
    assert first.getpixel((0, 0)) == (255, 0, 0)
    assert result.steps[0].images == urls


def test_observe_images_is_the_new_name_and_images_still_works_with_a_warning(make_agent):
    # given the old constructor flag images=True
    buffer = io.BytesIO()
    png().save(buffer, format="PNG")
    picture = base64.b64encode(buffer.getvalue()).decode()
    show = (
        "import base64\nfrom IPython.display import Image, display\n"
        f"display(Image(data=base64.b64decode({picture!r})))"
    )
    with pytest.warns(DeprecationWarning, match="observe_images"):
        agent = make_agent([code(show), code("final_answer('red')")], images=True)
    # when an action displays a picture
    agent.run("Show a picture.")
    # then the flag is observe_images, and the model saw the picture in the next call
    assert agent.observe_images is True
    observation = agent.model.calls[1][-1]["content"]
    assert observation[1]["type"] == "image_url"


# ----------------------------------------------------------------- callbacks and checks

PLANNED = ["1. print\n2. answer", code("x = 2\nprint(x)"), "2. answer", code("final_answer(x)")]


def test_step_callbacks_as_a_list_get_action_steps_only_as_in_smolagents(make_agent):
    # given a list of callbacks and planning every step
    ours, theirs = [], []
    agent = make_agent(
        list(PLANNED), step_callbacks=[lambda s: ours.append(type(s).__name__)], planning_interval=1
    )
    # when a run plans and acts twice
    agent.run("Two steps.")
    smolagents_agent(
        list(PLANNED),
        step_callbacks=[lambda s: theirs.append(type(s).__name__)],
        planning_interval=1,
    ).run("Two steps.")
    # then the callbacks saw the action steps only, as smolagents' do
    assert ours == theirs == ["ActionStep", "ActionStep"]


def test_step_callbacks_keyed_by_our_step_classes_get_those_steps(make_agent):
    # given callbacks for planning, action, final-answer and task steps
    seen = []

    def note(step):
        seen.append(type(step).__name__)

    agent = make_agent(
        list(PLANNED),
        step_callbacks={PlanningStep: [note], FinalAnswerStep: note, TaskStep: note},
        planning_interval=1,
    )
    # when a run plans, acts and answers
    agent.run("Two steps.")
    # then each callback got the steps of its class, in order
    assert seen == ["TaskStep", "PlanningStep", "PlanningStep", "FinalAnswerStep"]


def test_step_callbacks_keyed_by_smolagents_step_classes_work_as_in_smolagents(make_agent):
    # given smolagents code whose callback table uses smolagents' own classes
    def table(seen):
        return {
            smolagents.memory.MemoryStep: lambda s: seen.append("any"),
            smolagents.memory.PlanningStep: lambda s: seen.append(type(s).__name__),
            smolagents.memory.FinalAnswerStep: lambda s: seen.append(type(s).__name__),
        }

    ours, theirs = [], []
    agent = make_agent(list(PLANNED), step_callbacks=table(ours), planning_interval=1)
    # when the same script runs here and in smolagents
    agent.run("Two steps.")
    smolagents_agent(list(PLANNED), step_callbacks=table(theirs), planning_interval=1).run("Go.")
    # then the same callbacks ran for the same kinds of step, in the same order (a step's own
    # class before the base class)
    assert ours == theirs
    assert ours.count("PlanningStep") == 2 and ours.count("FinalAnswerStep") == 1


def test_a_step_callback_taking_the_agent_gets_it_by_keyword(make_agent):
    # given callbacks written for smolagents, which passes agent=
    seen = []
    agent = make_agent(
        [code("final_answer(1)")],
        step_callbacks=[
            lambda step, agent: seen.append(("named", agent)),
            lambda step, **kwargs: seen.append(("kwargs", kwargs["agent"])),
        ],
    )
    # when a step finishes
    agent.run("One.")
    # then each got this agent
    assert seen == [("named", agent), ("kwargs", agent)]


def test_final_answer_checks_get_the_agent_and_see_the_step_in_memory(make_agent):
    # given a check written for smolagents: (answer, memory, agent=...)
    seen = []

    def must_be_even(answer, memory, agent=None):
        seen.append((answer, agent, memory.steps[-1]))
        return answer % 2 == 0

    agent = make_agent(
        [code("final_answer(3)"), code("final_answer(4)")], final_answer_checks=[must_be_even]
    )
    # when the model answers 3 and then 4
    result = agent.run("An even number.")
    # then the check got the agent, with the answering step already in memory
    assert [(a, who) for a, who, _ in seen] == [(3, agent), (4, agent)]
    assert [step.code for _, _, step in seen] == ["final_answer(3)", "final_answer(4)"]
    assert (result.state, result.output) == ("success", 4)
    checked = []
    smolagents_agent(
        [code("final_answer(3)"), code("final_answer(4)")],
        final_answer_checks=[lambda a, m, agent: checked.append(a) or a % 2 == 0],
    ).run("An even number.")
    assert checked == [3, 4]  # smolagents calls it the same way


def test_a_truthy_verdict_accepts_the_answer_as_in_smolagents(make_agent):
    # given checks returning true values that are not True (numpy's bool, a count)
    agent = make_agent(
        [code("final_answer(2.0)")],
        final_answer_checks=[lambda a, m: np.isclose(a, 2), lambda a, m: 1],
    )
    # when the model answers
    result = agent.run("Two.")
    # then the answer is accepted at once
    assert (result.state, result.output, result.action_steps) == ("success", 2.0, 1)


# ----------------------------------------------------------------- memory


def test_get_full_steps_gives_the_step_dicts_smolagents_gives(make_agent):
    # given the same two steps run here and in smolagents
    replies = [code("x = 2\nprint(x)"), code("final_answer(x * 3)")]
    agent = make_agent(list(replies))
    agent.run("Six.")
    theirs = smolagents_agent(list(replies))
    theirs.run("Six.")
    # when each gives its full steps
    ours, expected = agent.memory.get_full_steps(), theirs.memory.get_full_steps()
    # then they have smolagents' keys, step by step; ours ends with the answer step it keeps
    assert [set(s) for s in ours[:-1]] == [set(s) for s in expected]
    assert ours[-1] == {"output": 6}
    for mine, smol in zip(ours[1:3], expected[1:3], strict=True):
        assert mine["code_action"] == smol["code_action"]
        assert mine["is_final_answer"] == smol["is_final_answer"]
        assert mine["tool_calls"][0]["function"]["name"] == "python_interpreter"
        assert set(mine["token_usage"]) == set(smol["token_usage"])
    assert ours[1]["observations"] == "2" and ours[2]["action_output"] == 6
    assert agent.memory.return_full_code() == theirs.memory.return_full_code()


def test_replay_prints_the_run_from_memory_as_the_console_printer_did(make_agent):
    # given a run printed live by the console printer
    live = io.StringIO()
    agent = make_agent(
        ["the plan", code("y = multiply(6, 7)\nprint(y)"), code("final_answer(y)")],
        tools=[multiply],
        planning_interval=5,
        observers=[ConsolePrinter(live, color=False)],
    )
    agent.run("Multiply 6 by 7.")
    # when it is replayed from memory
    replayed = io.StringIO()
    agent.replay(stream=replayed)
    # then the replay prints what the live run printed, line for line
    assert replayed.getvalue() == live.getvalue()
    lines = replayed.getvalue().splitlines()
    assert "Plan:" in lines and "Observation:" in lines and "Final answer: 42" in lines
    assert any(line.startswith("  tool multiply(6, 7) -> 42 (") for line in lines)


def test_logs_are_the_memory_steps_with_a_deprecation_warning(make_agent):
    # given a finished run
    agent = make_agent([code("final_answer(1)")])
    agent.run("One.")
    # when smolagents' old agent.logs is read
    with pytest.warns(DeprecationWarning, match="memory.steps"):
        logs = agent.logs
    # then it is the steps in memory
    assert logs == agent.memory.steps


# ----------------------------------------------------------------- smolagents models


def test_a_smolagents_model_drives_the_code_agent(make_agent):
    # given a smolagents Model subclass, as smolagents users write them
    model = SmolScript([code("x = 2\nprint(x)"), code("final_answer(x * 3)")], usage=(7, 3))
    agent = make_agent(model)
    system_prompt = agent.system_prompt()
    # when the agent runs with it
    result = agent.run("Six.")
    # then our loop called its generate with ChatMessages and stop_sequences, and kept its usage
    assert isinstance(agent.model, SmolagentsModel)
    assert (result.state, result.output) == ("success", 6)
    first = model.calls[0]
    assert all(isinstance(m, ChatMessage) for m in first["messages"])
    system = first["messages"][0]
    assert system.role == "system" and system.content == [{"type": "text", "text": system_prompt}]
    assert first["stop_sequences"] == ["Observation:"]
    usage = result.token_usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (14, 6)


def test_a_smolagents_model_native_tool_calls_drive_the_tool_calling_agent(tmp_path):
    # given a smolagents model that answers with native tool calls
    def calling(name, **arguments):
        function = ChatMessageToolCallFunction(name=name, arguments=arguments)
        call = ChatMessageToolCall(function=function, id=f"call_{name}", type="function")
        return ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=[call])

    model = SmolScript([calling("multiply", a=6, b=7), calling("final_answer", answer=42)])
    agent = ToolCallingAgent([multiply], model, record_dir=tmp_path)
    # when the agent runs
    result = agent.run("Multiply 6 by 7.")
    # then the calls ran, and the model was offered the tools as smolagents describes them
    assert (result.state, result.output) == ("success", 42)
    offered = model.calls[0]["tools_to_call_from"]
    schemas = [get_tool_json_schema(t) for t in offered]
    assert [s["function"]["name"] for s in schemas] == ["final_answer", "multiply"]
    assert schemas[1]["function"]["parameters"]["required"] == ["a", "b"]


def test_a_failing_smolagents_model_ends_the_run_in_error(make_agent):
    # given a smolagents model whose call fails
    agent = make_agent(SmolScript([ConnectionError("no route to host")]))
    # when the agent runs
    result = agent.run("Anything.")
    # then the run ends in error saying what the model raised (nothing is raised at the caller)
    assert result.state == "error"
    assert "SmolScript" in result.error and "ConnectionError: no route to host" in result.error


def test_a_managed_agent_answering_alone_still_reports_to_its_manager(make_agent, tmp_path):
    # given a team member made with smolagents' default return_full_result=False
    answer = {"id": "call_1", "name": "final_answer", "arguments": {"answer": 42}}
    helper = ToolCallingAgent(
        [multiply],
        ScriptedModel([ModelResponse(tool_calls=[answer])]),
        name="multiplier",
        description="Multiplies numbers.",
        return_full_result=False,
        record_dir=tmp_path,
    )
    manager = make_agent([code("final_answer(multiplier('7 times 6'))")], managed_agents=[helper])
    # when the manager asks it
    result = manager.run("What is 7 times 6?")
    # then its answer reaches the manager as the value it is
    assert (result.state, result.output) == ("success", 42)
