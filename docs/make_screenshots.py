"""Make the run-view screenshots of the README: docs/run-view.png and docs/run-view-dark.png.

    python docs/make_screenshots.py                 # both themes, into docs/
    python docs/make_screenshots.py --out /tmp/x --theme dark --keep

Needs JupyterLab and the `playwright` package (`pip install jupyterlab playwright`; no
`playwright install`: the browser is Debian's, `apt-get install chromium`, or $CHROMIUM).
Takes about 40 s. Everything happens in a temporary folder, removed at the end unless --keep:

1. a small demo notebook is built (`%load_ext smoldepot_jupyter`, a `ScriptedModel` whose three
   replies call the `double` tool, draw a matplotlib plot and give the final answer, set with
   `%config SmolDepot.model`; then one `%%agent` cell) and executed with nbclient in a real
   ipykernel, widget state stored, as in tests/notebook_helpers.py. It is then signed, as
   `jupyter trust` would, in a Jupyter data folder of its own: JupyterLab trusts the outputs of
   a notebook the user ran and saved, and strips the `<style>` of an untrusted one's HTML
   (--untrusted shows that case);
2. for each theme `jupyter lab` is started on 127.0.0.1, a free port, no browser, a token of its
   own, the notebook's folder as root, and its own config, data, runtime, workspaces and user
   settings folders (the settings pick the theme and turn off the news and update checks);
3. headless Chromium, driven by playwright with executable_path and a fresh profile, opens the
   notebook, waits for the run view, folds the file browser, unfolds the steps (the static
   rendering folds all but the last; each title is clicked, as a reader would), sizes the window
   so that the `%%agent` cell and its output fill it, and takes the screenshot (1280 px wide);
4. the server is stopped (SIGINT to its own pid, then SIGKILL if it lingers); it shuts down the
   kernel it started for the notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.sign import NotebookNotary
from nbformat.v4 import new_code_cell, new_notebook

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1280  # CSS px of the browser window; the screenshots are this wide
NOTEBOOK = "agent-demo.ipynb"

SETUP_CELL = '''\
%load_ext smoldepot_jupyter
from smoldepot_jupyter import ScriptedModel, tool

@tool
def double(x: int) -> int:
    """Double a number.

    Args:
        x: The number to double.
    """
    return 2 * x

def reply(thought, code):
    return f"Thought: {thought}\\n```python\\n{code}\\n```"

model = ScriptedModel([
    reply("I compute the squares, then let the `double` tool double their sum.",
          "squares = [n * n for n in range(1, 7)]\\n"
          "total = double(sum(squares))\\n"
          "print(f'squares: {squares}')\\n"
          "print(f'doubled sum: {total}')"),
    reply("A small plot of the squares shows how they grow.",
          "import matplotlib.pyplot as plt\\n"
          "fig, ax = plt.subplots(figsize=(4.2, 2.4))\\n"
          "ax.plot(range(1, 7), squares, marker='o')\\n"
          "ax.set_xlabel('n'); ax.set_ylabel('n squared')\\n"
          "plt.show()"),
    reply("I have the doubled sum and the plot: time to answer.",
          "final_answer(f'The doubled sum of the first six squares is {total}.')"),
], model_id="scripted-demo")
%config SmolDepot.model = model
'''

AGENT_CELL = """\
%%agent
Square the numbers 1 to 6, double their sum with the `double` tool, plot the squares, and answer.
"""

SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}
THEME_SETTINGS = "@jupyterlab/apputils-extension/themes.jupyterlab-settings"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def execute_demo(folder: Path, data_dir: Path | None, final_render: str = "static") -> Path:
    """Write the demo notebook into `folder` and execute it there (widget state kept). With a
    `data_dir`, sign it there (as `jupyter trust` does), so that JupyterLab run with that
    JUPYTER_DATA_DIR trusts its outputs like those of a notebook the user ran and saved."""
    setup = SETUP_CELL
    if final_render != "static":
        setup += f"%config SmolDepot.final_render = {final_render!r}\n"
    cells = [new_code_cell(setup.rstrip("\n")), new_code_cell(AGENT_CELL.rstrip("\n"))]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    client = NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    if data_dir is not None:
        NotebookNotary(data_dir=str(data_dir)).sign(notebook)
    path = folder / NOTEBOOK
    nbformat.write(notebook, path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """`jupyter lab` on 127.0.0.1 serving `root`, with its own settings, for one theme."""

    def __init__(self, root: Path, scratch: Path, data_dir: Path, theme: str) -> None:
        self.root = root
        self.scratch = scratch
        self.data_dir = data_dir
        self.port = free_port()
        self.token = secrets.token_hex(16)
        settings = scratch / "settings"
        for name, value in {**SETTINGS, THEME_SETTINGS: {"theme": theme}}.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        (scratch / "workspaces").mkdir(parents=True, exist_ok=True)
        self.log_path = scratch / "lab.log"
        self.command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.command.append("--allow-root")  # containers and CI run as root
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        scratch = self.log_path.parent
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(scratch / "config"),
            "JUPYTER_DATA_DIR": str(self.data_dir),
            "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        }
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.root
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited:\n{self.log_path.read_text()}")
            try:
                url = f"{self.base}/api/status?token={self.token}"
                with urllib.request.urlopen(url, timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer in {timeout} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGINT)  # the second ^C skips the confirmation
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


VIEW = ".jp-OutputArea-output .smoldepot-run"

# The %%agent cell (input, run view, Out[2]) scrolled to the top of the notebook; returns how
# many CSS px the window must grow or shrink so that the cell ends just above the status bar.
FIT_CELL = """
() => {
  const cell = document.querySelector('VIEW').closest('.jp-Cell');
  cell.scrollIntoView({block: 'start'});
  const scroller = cell.closest('.jp-WindowedPanel-outer') || cell.parentElement;
  const shown = scroller.getBoundingClientRect();
  const box = cell.getBoundingClientRect();
  return Math.ceil(box.bottom - shown.bottom) + 16;
}
""".replace("VIEW", VIEW)


def screenshot(lab: Lab, target: Path, profile: Path) -> None:
    """Open the notebook in headless Chromium and screenshot the window, sized so the `%%agent`
    cell with its run view fills it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    url = f"{lab.base}/lab/tree/{NOTEBOOK}?reset&token={lab.token}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS[1:],  # playwright adds its own headless flag
            viewport={"width": WIDTH, "height": 900},
        )
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector(VIEW, timeout=90_000)
            # The file browser opens beside the notebook; fold it so the notebook gets the width.
            page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
            # The static rendering folds every step but the last: open them, as a reader would.
            folded = page.locator(f"{VIEW} details.sd-step:not([open]) > summary")
            for _ in range(folded.count()):
                folded.first.click()
            page.mouse.move(0, 0)
            # Wait for the notebook's kernel to be idle, so the status bar does not say
            # "Connecting" (it only decorates the picture: go on without it).
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_selector(".jp-StatusBar-Widget >> text=Idle", timeout=30_000)
            for _ in range(3):
                grow = page.evaluate(FIT_CELL)
                if abs(grow) <= 2:
                    break
                size = page.viewport_size
                page.set_viewport_size({"width": WIDTH, "height": size["height"] + grow})
                page.wait_for_timeout(500)
            page.evaluate(FIT_CELL)
            page.wait_for_timeout(800)
            page.screenshot(path=str(target))
        finally:
            browser.close()


THEMES = {
    "light": ("JupyterLab Light", "run-view.png"),
    "dark": ("JupyterLab Dark", "run-view-dark.png"),
}


def check_tools() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium, or set $CHROMIUM)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    if shutil.which("jupyter-lab") is None and not _has_module("jupyterlab"):
        missing.append("JupyterLab (pip install jupyterlab)")
    if missing:
        sys.exit("missing: " + "; ".join(missing))


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="default: docs/"
    )
    parser.add_argument("--theme", choices=sorted(THEMES), action="append", help="default: both")
    parser.add_argument(
        "--untrusted",
        action="store_true",
        help="leave the notebook unsigned: JupyterLab then sanitizes its HTML outputs",
    )
    parser.add_argument(
        "--final-render",
        choices=["static", "widgets"],
        default="static",
        help="what the run display becomes (SmolDepot.final_render); the README shots: static",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    check_tools()
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="smoldepot-shots-"))
    try:
        root = scratch / "notebook"
        root.mkdir()
        data_dir = scratch / "jupyter-data"
        data_dir.mkdir()
        log(f"executing the demo notebook in {root}")
        execute_demo(root, None if args.untrusted else data_dir, args.final_render)
        for key in args.theme or ["light", "dark"]:
            theme, name = THEMES[key]
            lab = Lab(root, scratch / key, data_dir, theme)
            log(f"starting jupyter lab ({theme}) on {lab.base}")
            lab.start()
            try:
                screenshot(lab, args.out / name, lab.scratch / "chromium-profile")
                log(f"wrote {args.out / name}")
            finally:
                lab.stop()
    finally:
        if args.keep:
            log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
