"""Write the example notebooks in examples/notebooks/ (unexecuted), from the cells below.

    python examples/build_notebooks.py

Each notebook runs live when SMOLDEPOT_MODEL is set, and otherwise replays runs recorded with a
real model (examples/record_runs.py makes those records), with real execution of their code.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent / "notebooks"


def setup_cell(name: str, runs: int) -> str:
    records = ", ".join(f'"records/{name}-{n}.jsonl"' for n in range(1, runs + 1))
    return f"""\
%load_ext smoldepot_jupyter
import os
from smoldepot_jupyter import ReplayModel

%config SmolDepot.max_steps = 6
if os.environ.get("SMOLDEPOT_MODEL"):
    print(f"Running live with {{os.environ['SMOLDEPOT_MODEL']}}.")
else:
    # No model configured: play back runs recorded with a real model. Their code runs for real.
    replay = ReplayModel([{records}])
    %config SmolDepot.model = replay
    print(f"No model configured (set SMOLDEPOT_MODEL to run live): replaying runs recorded "
          f"with {{replay.record.model_id}}.")"""


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip())


NOTEBOOKS: dict[str, list[nbformat.NotebookNode]] = {
    "quickstart": [
        md("""
# Quickstart

`%%agent` turns a cell into a task for a code agent. The model answers with a thought and a
Python action; the action runs in a **sidecar kernel** (a separate Python process), so its
variables persist from step to step and from cell to cell; every step appears under the cell.

Set `SMOLDEPOT_MODEL` (any litellm model id, e.g. `openai/gpt-4o-mini`, or
`openai/qwen2.5-coder-1.5b-instruct` with `SMOLDEPOT_API_BASE` for a local server) to run live.
Without one, this notebook replays runs recorded with a real model.
"""),
        code(setup_cell("quickstart", 2)),
        md("Ask a question. Each step shows the model's thought, its code and what it printed."),
        code("%%agent\nFind all the prime numbers below 50. What is their sum?"),
        md("""
The sidecar keeps its variables, so the next task can build on the last one. Plots are kept:
they appear in the run view and the model is told an image was shown.
"""),
        code(
            "%%agent\nMake a bar chart of those primes with matplotlib and show it. "
            "Then give the largest of them as the final answer."
        ),
        md("The cell's value is the final answer (`_` holds it); `%agent history` lists the runs."),
        code("%agent history"),
    ],
    "data_analysis": [
        md("""
# Data analysis

A CSV made here, read by the agent with pandas; a DataFrame pushed into the sidecar, changed
there, and pulled back; a plot the model sees.
"""),
        code(setup_cell("data_analysis", 2)),
        code("""
import pandas as pd

df = pd.DataFrame({
    "city": ["Oslo", "Rome", "Oslo", "Rome", "Lima", "Lima"],
    "month": [1, 1, 2, 2, 1, 2],
    "temp": [-3.5, 9.1, -1.2, 10.4, 22.8, 23.1],
})
df.to_csv("weather.csv", index=False)
df
"""),
        code(
            "%%agent\nweather.csv has the columns city, month and temp. Read it with pandas. "
            "Which city has the highest average temp? Give the city name as the final answer."
        ),
        md("`--push df` copies the notebook's `df` into the sidecar and names it in the task."),
        code(
            "%%agent --push df\nThe DataFrame df has the columns city, month and temp (Celsius). "
            "Add a column temp_f with the temperature in Fahrenheit. Plot the average temp_f per "
            "city as a bar chart and show it. Then give the overall average of temp_f, rounded "
            "to 1 decimal, as the final answer."
        ),
        md("`%agent pull df` brings the sidecar's `df` back (as parquet: no pickle needed)."),
        code("%agent pull df\ndf"),
    ],
    "custom_tools": [
        md("""
# Custom tools

Tools are Python functions (`@tool`) or `Tool` classes with state. They run **in this
notebook's kernel**; the sidecar gets a stub with the same signature and docstring that calls
back over the Jupyter protocol. A tool can hold a secret the sidecar never sees.
"""),
        code(setup_cell("custom_tools", 2)),
        code('''
import os
from smoldepot_jupyter import Tool, tool

os.environ["DEMO_WEATHER_API_KEY"] = "demo-secret-123"  # a credential in *this* kernel only


@tool
def convert_currency(amount: float, currency: str) -> float:
    """Convert US dollars to another currency at today's rate.

    Args:
        amount: The amount in US dollars.
        currency: The target currency code, e.g. "EUR".
    """
    rates = {"EUR": 0.92, "GBP": 0.79, "JPY": 151.2}
    return round(amount * rates[currency.upper()], 2)


class WeatherService(Tool):
    name = "city_weather"
    description = "Today's weather in a city, from a service that needs an API key."
    inputs = {"city": {"type": "string", "description": "The city name."}}
    output_type = "string"

    def setup(self):
        self.key = os.environ["DEMO_WEATHER_API_KEY"]  # read here, never sent to the sidecar
        self.calls = 0

    def forward(self, city: str) -> str:
        self.calls += 1
        return {"oslo": "snow, -3 C", "rome": "sun, 14 C"}.get(city.lower(), "unknown city")


weather = WeatherService()
'''),
        code(
            "%%agent\nHow many euros are 250 US dollars? Also get the weather in Rome. "
            "Give both in one sentence as the final answer."
        ),
        md("The sidecar's environment has no credentials: the key stayed in this kernel."),
        code(
            "%%agent\nIs the environment variable DEMO_WEATHER_API_KEY set in your Python "
            "session? Check with os.environ and answer yes or no."
        ),
        code("weather.calls  # the tool's state lives here, in the notebook's kernel"),
    ],
    "multi_agent": [
        md("""
# Several agents

A manager agent gets a team member as a tool: it calls it with a task in plain words and gets
its final answer back. Each agent has its own sidecar kernel. This notebook uses the Python API
and prints progress to the terminal-style output.
"""),
        code("""
import os
from smoldepot_jupyter import CodeAgent, ReplayModel
from smoldepot_jupyter.events import ConsolePrinter

if os.environ.get("SMOLDEPOT_MODEL"):
    manager_model = analyst_model = None  # both use SMOLDEPOT_MODEL
    print(f"Running live with {os.environ['SMOLDEPOT_MODEL']}.")
else:
    manager_model = ReplayModel("records/multi_agent-1.jsonl")
    analyst_model = ReplayModel("records/multi_agent-2.jsonl")
    print("No model configured (set SMOLDEPOT_MODEL to run live): replaying runs recorded "
          f"with {manager_model.record.model_id}.")
"""),
        code("""
statistician = CodeAgent(
    [],
    analyst_model,
    name="statistician",
    description="Computes statistics of a list of numbers with Python and answers with the number.",
    max_steps=4,
)
manager = CodeAgent(
    [], manager_model, managed_agents=[statistician], max_steps=5, observers=[ConsolePrinter()]
)
result = manager.run(
    "Ask the statistician for the median of the numbers 3, 9, 4, 12 and 7. "
    "Then give that median times 2 as the final answer."
)
result
"""),
        code("statistician.close()\nmanager.close()"),
    ],
    "teaching_replay": [
        md("""
# Teaching with replays

A run recorded once can be replayed in front of a class without a model or a key: the model's
words come from the record, at presentation speed, and the code **really runs** in the sidecar.
If execution goes another way than when it was recorded, the step says so.
"""),
        code("%load_ext smoldepot_jupyter"),
        code(
            "%%agent --replay records/quickstart-1.jsonl --delay 0.02\n"
            "Replaying the first quickstart run."
        ),
        md("Any run can be exported as a notebook that re-executes, with recorded tool results."),
        code("%agent export replayed.ipynb --run records/quickstart-1.jsonl"),
        code("""
import nbformat

exported = nbformat.read("replayed.ipynb", as_version=4)
[(cell.cell_type, cell.source.splitlines()[0][:60]) for cell in exported.cells]
"""),
    ],
}


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        notebook.metadata["language_info"] = {"name": "python"}
        nbformat.write(notebook, HERE / f"{name}.ipynb")
        print(f"wrote {HERE / name}.ipynb")


if __name__ == "__main__":
    main()
