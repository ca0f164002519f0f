"""Every `%agent` subcommand, every bad flag, configuration, push/pull, background runs and
Kernel -> Interrupt, each seen as a notebook user sees it (real kernels)."""

from __future__ import annotations

import time

import pytest
from jupyter_client import KernelManager
from notebook_helpers import SETUP, errors_of, result_of, run_notebook, texts

from smoldepot_jupyter.kernel import bwrap_problem

COMMAND_CELLS = [
    "%load_ext smoldepot_jupyter",  # 0
    SETUP
    + '''
import pandas as pd
df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})

@tool
def shout(text: str) -> str:
    """Upper-case a text.

    Args:
        text: What to shout.
    """
    return text.upper()

model = ScriptedModel([
    code("df['c'] = df['a'] * 10\\nprint(df.shape)"),
    code("final_answer(int(df['c'].sum()))"),
    code("final_answer(shout('hi'))"),
    code("import time\\ntime.sleep(30)"),
])
''',  # 1
    "%config SmolDepot.model = model\n%config SmolDepot.record_dir = 'runs'",  # 2
    "%agent push df",  # 3
    "%%agent\nAdd a column c = a * 10 to df and sum it.",  # 4
    "%agent pull df\ndf",  # 5
    "pulled = df; (list(pulled.columns), pulled['c'].tolist(), pulled['b'].tolist())",  # 6
    "%agent status",  # 7
    "%agent tools",  # 8
    "%agent config",  # 9
    "%agent runs",  # 10
    "%agent show",  # 11
    "%agent last",  # 12
    "%%agent --tools shout\nShout hi.",  # 13
    "%%agent --tools nothing_like_this\nShout.",  # 14
    "%agent bogus",  # 15
    "%%agent --max-steps zero\nTask.",  # 16
    "%%agent --frobnicate\nTask.",  # 17
    "%%agent\n",  # 18
    "%agent",  # 19
    "%config SmolDepot.max_steps = 0",  # 20
    "%config SmolDepot.final_render = 'sometimes'",  # 21
    "%agent pull not_there",  # 22
    "%agent push not_there_either",  # 23
    "%%agent --background --max-steps 1\nSleep for a while.",  # 24
    "import time\ntime.sleep(1.5)",  # 25
    "%agent status",  # 26
    "%agent stop",  # 27
    "%agent last.state",  # 28 (a bad subcommand form)
    "_last = get_ipython().run_line_magic('agent', 'last'); _last.state",  # 29
    "%agent restart",  # 30
    "%agent reset",  # 31
    "%agent stop",  # 32
    "%agent export exported.ipynb --run 1",  # 33
    "import nbformat\nnbformat.validate(nbformat.read('exported.ipynb', 4)) or 'valid'",  # 34
    "%agent export elsewhere.ipynb --run no-such-run",  # 35
    "%config SmolDepot.sandbox = 'sometimes'",  # 36
    "%config SmolDepot.sandbox_limits = {'memory': 1}",  # 37
    "%%agent --sandbox nowhere\nTask.",  # 38
]


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("commands")
    return run_notebook(COMMAND_CELLS, workdir).cells


def test_push_then_agent_changes_the_sidecar_copy(cells):
    assert result_of(cells[4]) == "60"
    assert "(3, 3)" in texts(cells[4])


def test_pull_round_trips_a_dataframe(cells):
    assert "Pulled df (DataFrame)" in texts(cells[5])
    assert result_of(cells[6]) == "(['a', 'b', 'c'], [10, 20, 30], ['x', 'y', 'z'])"


def test_status_shows_model_sidecar_tools_and_runs(cells):
    shown = texts(cells[7])
    assert "model:    scripted" in shown
    assert "sidecar:  running, pid" in shown and "MiB resident" in shown
    assert "shout" in shown and "runs:     1 in this session" in shown


def test_status_says_which_sandbox_level_is_in_force_and_why(cells):
    shown = texts(cells[7])
    expected = "sandbox:  process (" if bwrap_problem() else "sandbox:  bwrap ("
    assert expected in shown
    assert "the default where bubblewrap works" in shown or "unsandboxed" in shown


def test_the_run_view_names_the_sandbox_level(cells):
    shown = texts(cells[4])
    assert "sandbox: bwrap" in shown or "sandbox: process" in shown


def test_sidecar_memory_counts_the_kernel_below_bwrap(cells):
    shown = texts(cells[7])
    resident = int(shown.split("MiB resident")[0].rsplit(",", 1)[1])
    assert resident >= 20  # an ipykernel, not bwrap's own few MiB


def test_tools_lists_signatures(cells):
    shown = texts(cells[8])
    assert "shout(text: str) -> str" in shown and "user_input(question: str) -> str" in shown


def test_config_shows_every_setting_without_secrets(cells):
    shown = texts(cells[9])
    assert "SmolDepot.max_steps = 20" in shown and "ScriptedModel('scripted')" in shown


def test_runs_lists_recorded_runs(cells):
    assert "success" in texts(cells[10]) and "Add a column" in texts(cells[10])


def test_show_displays_the_last_run_statically(cells):
    shown = texts(cells[11])
    assert "df['c'] = df['a'] * 10" in shown or "df[&#x27;c&#x27;]" in shown


def test_last_gives_the_run_result(cells):
    assert result_of(cells[12]).startswith("RunResult(state='success', output=60")


def test_tools_flag_narrows_the_tools(cells):
    assert result_of(cells[13]) == "'HI'"


@pytest.mark.parametrize(
    ("index", "says"),
    [
        (14, "no tool named nothing_like_this"),
        (15, "unknown subcommand 'bogus'"),
        (16, "argument --max-steps: invalid int value"),
        (17, "unrecognized arguments: --frobnicate"),
        (18, "the cell holds no task"),
        (19, "Usage:"),
        (22, "no variable named 'not_there' in the sidecar"),
        (23, "no variable named 'not_there_either' in the notebook"),
        (28, "unknown subcommand 'last.state'"),
    ],
)
def test_mistakes_get_a_usage_error_not_a_traceback(cells, index, says):
    shown = texts(cells[index])
    assert f"UsageError: {says}" in shown or ("UsageError" in shown and says in shown), shown
    assert not errors_of(cells[index])  # a message, not an exception with a traceback
    assert "Traceback" not in shown


def test_invalid_config_values_get_the_traits_own_error(cells):
    assert "max_steps" in texts(cells[20]) and "1" in texts(cells[20])
    assert "final_render" in texts(cells[21]) and "sometimes" in texts(cells[21])
    assert "sandbox" in texts(cells[36]) and "'bwrap'" in texts(cells[36])
    assert "unknown limit memory" in texts(cells[37]) and "memory_bytes" in texts(cells[37])


def test_an_unknown_sandbox_flag_is_a_usage_error_listing_the_levels(cells):
    shown = texts(cells[38])
    assert "argument --sandbox: invalid choice: 'nowhere'" in shown
    assert "'bwrap'" in shown and "'process'" in shown


def test_background_run_shows_in_status_and_stop_ends_it(cells):
    assert result_of(cells[24]) is None
    assert "background: running" in texts(cells[26])
    assert "Background run stopped." in texts(cells[27])
    assert result_of(cells[29]) == "'interrupted'"


def test_restart_and_reset_say_what_they_did(cells):
    assert "variables are gone" in texts(cells[30])
    assert "Conversation forgotten" in texts(cells[31])
    assert "No background run." in texts(cells[32])


def test_export_writes_a_valid_notebook_of_a_run(cells):
    assert "Exported to exported.ipynb" in texts(cells[33])
    assert result_of(cells[34]) == "'valid'"


def test_export_of_an_unknown_run_is_a_usage_error(cells):
    assert "UsageError: no run 'no-such-run'" in texts(cells[35])


def test_raise_on_error_makes_a_failed_run_raise_after_it_is_shown(tmp_path):
    # given SmolDepot.raise_on_error and a model with no reply (the run ends in error)
    notebook = run_notebook(
        [
            "%load_ext smoldepot_jupyter",
            SETUP,
            "%config SmolDepot.model = ScriptedModel([])\n%config SmolDepot.raise_on_error = True",
            "%%agent\nDo something.",
        ],
        tmp_path,
    )
    # when the %%agent cell runs
    outputs = notebook.cells[3].outputs
    # then the run view is shown first, with the run's error, and then the cell raises
    shown = outputs[0]["data"]["application/vnd.smoldepot.run+json"]
    assert shown["status"] == "error" and "ScriptedModel" in shown["error"]
    [(name, value)] = errors_of(notebook.cells[3])
    assert name == "AgentRunError"
    assert value == f"the agent run {shown['run_id']} ended in error: {shown['error']}"
    assert outputs[-1]["output_type"] == "error"


def test_ipython_config_file_sets_smoldepot_traits(tmp_path):
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text("c.SmolDepot.max_steps = 7\n")
    import os

    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    notebook = run_notebook(
        ["%load_ext smoldepot_jupyter", "%config SmolDepot.max_steps"], tmp_path, env=env
    )
    assert result_of(notebook.cells[1]) == "7"


def test_kernel_interrupt_stops_the_run_keeping_its_steps_and_the_next_run_works(tmp_path):
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)

        def run(code, timeout=120):
            reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: None)
            return reply["content"]

        run("%load_ext smoldepot_jupyter")
        run(SETUP)
        run(
            "model = ScriptedModel([code('first = 1\\nprint(first)'), "
            "code('import time\\nprint(\"sleeping\", flush=True)\\ntime.sleep(60)'), "
            "code('final_answer(first + 1)')])"
        )
        run("%config SmolDepot.model = model\n%config SmolDepot.record_dir = 'runs'")
        msg_id = kc.execute("%%agent\nTwo steps, the second slow.")
        time.sleep(8)
        km.interrupt_kernel()
        deadline = time.monotonic() + 60
        while True:
            reply = kc.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        captured = []
        kc.execute_interactive(
            "r = get_ipython().run_line_magic('agent', 'last')\n"
            "print(r.state, r.action_steps, r.record_path is not None)",
            timeout=60,
            output_hook=lambda m: captured.append(m["content"].get("text", "")),
        )
        assert "interrupted 2 True" in "".join(captured)
        captured.clear()
        kc.execute_interactive(
            "%%agent\nAdd one to first.",
            timeout=120,
            output_hook=lambda m: captured.append(str(m["content"].get("data", {}))),
        )
        assert any("'text/plain': '2'" in c for c in captured)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_user_input_and_model_input_reach_the_notebook_users_input_box(tmp_path):
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    asked = []

    def answer(msg):
        asked.append(msg["content"]["prompt"])
        kc.input("Ada" if "name" in msg["content"]["prompt"] else "blue")

    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive("%load_ext smoldepot_jupyter", timeout=60)
        kc.execute_interactive(SETUP, timeout=60)
        kc.execute_interactive(
            "model = ScriptedModel([code(\"name = user_input('What is your name?')\\n"
            "colour = input('Favourite colour? ')\\nfinal_answer(name + ' likes ' + colour)\")])\n"
            "%config SmolDepot.model = model\n%config SmolDepot.record_dir = 'runs'",
            timeout=60,
        )
        shown = []
        kc.execute_interactive(
            "%%agent\nAsk me two things.",
            timeout=120,
            allow_stdin=True,
            stdin_hook=answer,
            output_hook=lambda m: shown.append(str(m["content"].get("data", {}))),
        )
        assert asked == ["What is your name? ", "Favourite colour? "]
        assert any("'text/plain': \"'Ada likes blue'\"" in s for s in shown), shown
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
