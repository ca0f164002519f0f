"""`SmolDepot`: the one traitlets `Configurable` behind ``%%agent``.

Set a trait with ``%config SmolDepot.max_steps = 10``, with ``c.SmolDepot.max_steps = 10`` in
``ipython_config.py`` / ``jupyter_*_config.py``, with a flag for one run, or as a keyword argument
in Python. Invalid values get the trait's own error.
"""

from __future__ import annotations

from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, Enum, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import Configurable

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
            "What the run display becomes when the run ends: 'static' (HTML/Markdown/text, "
            "saved with any notebook), 'widgets' (keep the live view) or 'both'."
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

    @validate("record_dir", "cwd", "api_base")
    def _empty_is_none(self, proposal: dict[str, Any]) -> Any:
        return proposal["value"] or None
