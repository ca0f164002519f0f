"""`resolve_model`: turn what the user gave (a model, a litellm id, or nothing) into a `Model`."""

from __future__ import annotations

import os

from .base import Model, NoModelConfigured
from .litellm_model import LiteLLMModel
from .smolagents_model import SmolagentsModel, is_smolagents_model

__all__ = ["resolve_model"]

MODEL_VARIABLE = "SMOLDEPOT_MODEL"
API_BASE_VARIABLE = "SMOLDEPOT_API_BASE"

_HOW_TO_CONFIGURE = f"""no model configured. Set one of:
  - a hosted model: {MODEL_VARIABLE}=openai/gpt-4o-mini with OPENAI_API_KEY set
    (or {MODEL_VARIABLE}=anthropic/claude-sonnet-4-5 with ANTHROPIC_API_KEY set);
  - Ollama: {MODEL_VARIABLE}=ollama_chat/qwen2.5-coder and {API_BASE_VARIABLE}=http://localhost:11434;
  - any OpenAI-compatible server (llama.cpp, vLLM, LM Studio): {MODEL_VARIABLE}=openai/<name>
    and {API_BASE_VARIABLE}=http://127.0.0.1:8080/v1.
In a notebook: %config SmolDepot.model = "openai/gpt-4o-mini"; in Python: pass model="..."
(a litellm model id) or a Model instance."""


def resolve_model(model: Model | str | None = None, api_base: str | None = None) -> Model:
    """A `Model` for `model`: a Model instance as is, a smolagents model through
    `SmolagentsModel`, a string as a litellm model id, and None as the id in
    ``SMOLDEPOT_MODEL``. A model id is served from `api_base`, else from
    ``SMOLDEPOT_API_BASE`` when it is set (whether the id came from `model` or from
    ``SMOLDEPOT_MODEL``): a local server's user who names the model keeps their server.

    Raises `NoModelConfigured`, saying how to set one, when there is none.
    """
    if is_smolagents_model(model):
        return SmolagentsModel(model)
    if isinstance(model, Model):
        return model
    api_base = api_base or os.environ.get(API_BASE_VARIABLE, "").strip() or None
    if isinstance(model, str) and model.strip():
        return LiteLLMModel(model.strip(), api_base=api_base)
    if model is not None and not isinstance(model, str):
        raise TypeError(
            f"model must be a Model, a litellm model id or None, not {type(model).__name__}"
        )
    model_id = os.environ.get(MODEL_VARIABLE, "").strip()
    if not model_id:
        raise NoModelConfigured(_HOW_TO_CONFIGURE)
    return LiteLLMModel(model_id, api_base=api_base)
