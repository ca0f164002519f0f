"""`SmolDepot`: the one traitlets `Configurable` behind ``%%agent``.

Set a trait with ``%config SmolDepot.max_steps = 10``, with ``c.SmolDepot.max_steps = 10`` in
``ipython_config.py`` / ``jupyter_*_config.py``, with a flag for one run, or as a keyword argument
in Python. Invalid values get the trait's own error.
"""

from __future__ import annotations

from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import Configurable

from ..kernel import SANDBOX_LEVELS, ResourceLimits

__all__ = ["FINAL_RENDERS", "SmolDepot"]

FINAL_RENDERS = ("static", "widgets", "both")


class SmolDepot(Configurable):
    """Settings of the ``%%agent`` magic and its sidecar kernel."""

    model = AnyTrait(
        None,
        allow_none=True,
        help=(
            "The model: a litellm model id such as 'openai/gpt-4o-mini' or "
            "'ollama_chat/qwen2.5-coder', or a Model instance (e.g. ScriptedModel([...])). "
            "None: the SMOLDEPOT_MODEL environment variable."
        ),
    ).tag(config=True)
    api_base = Unicode(
        None, allow_none=True, help="Base URL of an OpenAI-compatible server (local models)."
    ).tag(config=True)
    max_steps = Int(20, min=1, help="Most action steps per run.").tag(config=True)
    step_timeout = Float(
        300.0, min=0.1, help="Seconds one action may run before it is interrupted."
    ).tag(config=True)
    kernel_name = Unicode("python3", help="Kernel spec of the sidecar kernel.").tag(config=True)
    sandbox = Enum(
        SANDBOX_LEVELS,
        default_value="auto",
        help=(
            "Where the model's code runs: 'bwrap' (a bubblewrap sandbox: no host process, no "
            "network, only the working directory writable), 'process' (a plain process, as "
            "you), or 'auto' (bwrap where it works, else process with a notice)."
        ),
    ).tag(config=True)
    network = Bool(False, help="Let the bwrap sandbox reach the network.").tag(config=True)
    sandbox_paths = List(
        Unicode(),
        help="More host paths the bwrap sandbox may read ('~/data'), or write ('~/out:rw').",
    ).tag(config=True)
    sandbox_limits = Dict(
        help=(
            "Resource limits of the bwrap sandbox, any of: memory_bytes (per process; default "
            "half this machine's memory), max_processes (512), file_size_bytes (8 GiB), "
            "cpu_seconds (CPU time per action, 600). None lifts one."
        ),
    ).tag(config=True)
    cwd = Unicode(
        None, allow_none=True, help="Working directory of the sidecar (None: the notebook's)."
    ).tag(config=True)
    authorized_imports = List(
        Unicode(),
        default_value=None,
        allow_none=True,
        help="Modules actions may import (None: any). A guard-rail, not a sandbox.",
    ).tag(config=True)
    env_allowlist = List(
        Unicode(), help="Credential-like environment variables the sidecar may still see."
    ).tag(config=True)
    record_dir = Unicode(
        ".smoldepot/runs", allow_none=True, help="Where runs are recorded (None: not recorded)."
    ).tag(config=True)
    stream = Bool(True, help="Show the model's words as they arrive.").tag(config=True)
    final_render = Enum(
        FINAL_RENDERS,
        default_value="static",
        help=(
            "What the run display becomes when the run ends: 'static' (HTML/Markdown/text and "
            "the run JSON, saved with any notebook), or 'widgets' / 'both' (keep the live view "
            "too; the static renderings stay beside it)."
        ),
    ).tag(config=True)
    context_window = Int(
        None,
        allow_none=True,
        min=1_000,
        help=(
            "Tokens the model reads at most (None: what litellm knows of the model). Older "
            "steps are left out of the prompt to stay inside it; the record keeps them."
        ),
    ).tag(config=True)
    max_observation_chars = Int(
        10_000, min=200, help="Longest observation the model reads after an action."
    ).tag(config=True)
    format_answer = Bool(
        False,
        help=(
            "After a text or number answer, ask the model once more, with only the task and the "
            "answer, to write the answer in the form the task asks for (the rewrite is kept only "
            "if it keeps the answer's numbers and uses only words of the task or the answer)."
        ),
    ).tag(config=True)
    ask_user = Bool(
        True, help="Offer the user_input tool, which asks you through an input box."
    ).tag(config=True)
    raise_on_error = Bool(
        False,
        help=(
            "A %%agent cell whose run ends in error raises AgentRunError, naming the error, "
            "after the run is shown, so the notebook (nbclient, smoldepot execute, Run All) "
            "stops there (a --background run, whose cell has returned, does not raise). Off: "
            "the cell shows the error and the notebook goes on."
        ),
    ).tag(config=True)

    @validate("model")
    def _check_model(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if value is None or isinstance(value, str):
            return value or None
        if callable(getattr(value, "generate", None)) and isinstance(
            getattr(value, "model_id", None), str
        ):
            return value
        raise TraitError(
            f"SmolDepot.model must be a litellm model id (a string) or a Model instance with "
            f"model_id and generate(), not {type(value).__name__}"
        )

    @validate("sandbox_limits")
    def _check_limits(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        known = set(ResourceLimits.__dataclass_fields__)
        unknown = sorted(set(value) - known)
        if unknown:
            raise TraitError(
                f"SmolDepot.sandbox_limits: unknown limit {', '.join(unknown)}; "
                f"the limits are {', '.join(sorted(known))}"
            )
        for name, limit in value.items():
            if limit is not None and (not isinstance(limit, int | float) or limit <= 0):
                raise TraitError(
                    f"SmolDepot.sandbox_limits[{name!r}] must be a positive number or None, "
                    f"not {limit!r}"
                )
        return value

    def resource_limits(self) -> ResourceLimits:
        """`sandbox_limits` over the defaults."""
        return ResourceLimits(**{**ResourceLimits().__dict__, **self.sandbox_limits})

    @validate("record_dir", "cwd", "api_base")
    def _empty_is_none(self, proposal: dict[str, Any]) -> Any:
        return proposal["value"] or None
