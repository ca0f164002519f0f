"""The sandbox levels: how ``auto`` decides, what ``bwrap`` shows and hides, and the provisioner
used by plain jupyter_client, as JupyterLab would use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import kill_if_running, stdout_text, wait_until_gone
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

from smoldepot_jupyter import CodeAgent, ScriptedModel, tool
from smoldepot_jupyter.cli import main as cli_main
from smoldepot_jupyter.kernel import (
    KernelExecutor,
    KernelStartError,
    SandboxUnavailable,
    bwrap_problem,
    choose_level,
)

pytestmark = pytest.mark.timeout(180)

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"{bwrap_problem()}")


@pytest.fixture
def without_bwrap(monkeypatch, tmp_path):
    """A PATH on which there is no bwrap (the probe is redone, and redone again after)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("python", "true", "sh"):
        found = shutil.which(name)
        if found:
            (folder / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(folder))
    bwrap_problem.cache_clear()
    yield
    monkeypatch.undo()
    bwrap_problem.cache_clear()


def test_auto_falls_back_to_process_and_says_why_without_bubblewrap(without_bwrap):
    choice = choose_level("auto")
    assert choice.level == "process" and choice.fell_back
    assert "apt-get install bubblewrap" in choice.reason


def test_asking_for_bwrap_without_bubblewrap_is_an_error_naming_the_fix(without_bwrap):
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        KernelExecutor(sandbox="bwrap")


def test_an_unknown_level_is_refused_with_the_levels():
    with pytest.raises(ValueError, match="auto, bwrap, process"):
        KernelExecutor(sandbox="docker")


@needs_bwrap
def test_without_user_namespaces_the_error_names_the_sysctl(tmp_path):
    # Given a machine where user namespaces cannot be made (a bwrap sandbox that forbids them)
    script = (
        "from smoldepot_jupyter.kernel.launch.levels import bwrap_problem, choose_level\n"
        "print(bwrap_problem())\nprint(choose_level('auto'))\n"
    )
    root = Path(__file__).resolve().parents[1]
    command = ["bwrap", "--unshare-user", "--disable-userns", "--ro-bind", "/", "/"]
    command += ["--dev", "/dev", "--proc", "/proc"]
    command += ["--chdir", str(root), sys.executable, "-c", script]

    # When the probe runs there
    out = subprocess.run(command, capture_output=True, text=True, timeout=60)

    # Then it says user namespaces are off and how to turn them on, and auto falls back
    assert out.returncode == 0, out.stderr
    problem, fallback = out.stdout.strip().splitlines()
    assert "cannot create user namespaces" in problem
    assert "sysctl" in problem and "unprivileged_userns_clone" in problem
    assert fallback.startswith("process (bubblewrap unavailable")


@needs_bwrap
def test_auto_is_bwrap_where_bubblewrap_works():
    choice = choose_level("auto")
    assert choice.level == "bwrap" and not choice.fell_back


@needs_bwrap
def test_sandbox_paths_are_read_only_unless_marked_writable(tmp_path):
    home = Path.home()
    readable = home / f".smoldepot-ro-{uuid.uuid4().hex}"
    writable = home / f".smoldepot-rw-{uuid.uuid4().hex}"
    readable.mkdir()
    writable.mkdir()
    (readable / "data.txt").write_text("shared data")
    try:
        paths = [str(readable), f"{writable}:rw"]
        with KernelExecutor(sandbox="bwrap", cwd=tmp_path, sandbox_paths=paths) as ex:
            code = (
                f"print(open({str(readable / 'data.txt')!r}).read())\n"
                f"open({str(writable / 'out.txt')!r}, 'w').write('written')\n"
                f"try:\n    open({str(readable / 'x.txt')!r}, 'w')\nexcept OSError as e:\n"
                "    print('refused', e.errno)"
            )
            execution = ex.run(code)
            assert execution.error is None, execution.observation()
            assert stdout_text(execution) == "shared data\nrefused 30\n"  # EROFS
            assert "also visible" in ex.describe()
        assert (writable / "out.txt").read_text() == "written"
    finally:
        shutil.rmtree(readable, ignore_errors=True)
        shutil.rmtree(writable, ignore_errors=True)


@needs_bwrap
def test_a_missing_sandbox_path_is_a_clear_start_error(tmp_path):
    ex = KernelExecutor(sandbox="bwrap", cwd=tmp_path, sandbox_paths=[str(tmp_path / "nope")])
    with pytest.raises(KernelStartError, match="does not exist"):
        ex.start()


@needs_bwrap
def test_a_working_directory_that_holds_home_is_refused_under_bwrap():
    ex = KernelExecutor(sandbox="bwrap", cwd=Path.home())
    with pytest.raises(KernelStartError, match="holds your home folder"):
        ex.start()


@needs_bwrap
def test_describe_names_network_limits_and_how_processes_are_counted(tmp_path):
    with KernelExecutor(sandbox="bwrap", cwd=tmp_path) as ex:
        line = ex.describe()
    assert line.startswith("bwrap (asked for): no network")
    assert "GiB per process" in line and "s CPU per action" in line
    assert (
        "processes (a pids cgroup)" in line
        or "processes (RLIMIT_NPROC)" in line
        or ("not enforced" in line)
    )


@needs_bwrap
def test_installed_kernelspec_sandboxes_a_kernel_started_by_plain_jupyter_client(tmp_path):
    # Given the sandboxed kernelspec installed under a prefix
    assert cli_main(["kernelspec", "install", "--name", "sd-test", "--prefix", str(tmp_path)]) == 0
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    spec = json.loads((kernels / "sd-test" / "kernel.json").read_text())
    assert spec["interrupt_mode"] == "message"
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == (
        "smoldepot-bwrap-provisioner"
    )

    # When jupyter_client alone starts it, as JupyterLab would
    km = KernelManager(
        kernel_name="sd-test",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
    )
    work = tmp_path / "work"
    work.mkdir()
    km.start_kernel(cwd=str(work))
    pid = km.provisioner.pid
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        shown = []
        code = (
            f"import os, socket\nprint(os.path.exists('/proc/{os.getpid()}'), os.getcwd(), "
            "socket.gethostname())"
        )
        kc.execute_interactive(code, output_hook=lambda m: shown.append(m), timeout=60)
        text = "".join(m["content"].get("text", "") for m in shown)

        # Then it runs sandboxed: no host process visible, in the working directory
        assert text.strip() == f"False {work} sandbox"

        # and an interrupt reaches the kernel inside bwrap
        kc.execute("import time\nwhile True:\n    time.sleep(0.05)")
        time.sleep(0.5)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        assert wait_until_gone(pid, within=10)
        kill_if_running(pid)


def test_kernelspec_install_of_an_unknown_base_is_an_error(tmp_path, capsys):
    status = cli_main(["kernelspec", "install", "--base", "nope", "--prefix", str(tmp_path)])
    assert status == 2
    assert "no kernel named 'nope'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- one run's tools


@tool
def first_runs_tool() -> str:
    """A tool only the first agent offers."""
    return "from the first agent"


def test_a_later_agent_on_a_shared_sidecar_cannot_call_an_earlier_agents_tool(tmp_path):
    with KernelExecutor(cwd=tmp_path) as shared:
        first = CodeAgent(
            [first_runs_tool],
            ScriptedModel(["Thought: t\n```python\nfinal_answer(first_runs_tool())\n```"]),
            executor=shared,
            record_dir=None,
        )
        assert first.run("Use the tool.").output == "from the first agent"
        heard: list[str] = []
        first.subscribe(lambda event: heard.append(event.kind))

        second = CodeAgent(
            [],
            ScriptedModel(
                [
                    "Thought: t\n```python\nprint(first_runs_tool())\n```",
                    "Thought: t\n```python\nfinal_answer('done')\n```",
                ]
            ),
            executor=shared,
            record_dir=None,
        )
        result = second.run("Try the other agent's tool.")

    assert result.output == "done"
    assert "NameError" in (result.steps[1].error or "")
    assert "tool_call_finished" not in heard  # nothing reached the finished agent


@needs_bwrap
def test_a_virtualenv_inside_the_working_directory_stays_read_only(tmp_path):
    # Given a project whose virtualenv lives in its own folder (the host imports from it too)
    venv = tmp_path / ".venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True,
        timeout=120,
    )
    python = venv / "bin" / "python"
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "project venv",
        "language": "python",
    }
    kernels = tmp_path / "kernels" / "project-venv"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps(spec))
    os.environ["JUPYTER_PATH"] = str(tmp_path)
    try:
        with KernelExecutor("project-venv", sandbox="bwrap", cwd=tmp_path) as ex:
            code = (
                "import sys, os\nprint(sys.prefix)\n"
                "try:\n    open(os.path.join(sys.prefix, 'planted.py'), 'w')\n"
                "except OSError as e:\n    print('refused', e.errno)\n"
                "open('result.txt', 'w').write('the project folder is writable')"
            )
            execution = ex.run(code)
    finally:
        del os.environ["JUPYTER_PATH"]
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == f"{venv}\nrefused 30\n"
    assert not (venv / "planted.py").exists()
    assert (tmp_path / "result.txt").read_text() == "the project folder is writable"
