"""Models: the `Model` protocol, `LiteLLMModel` for real models, `ScriptedModel` for tests,
`SmolagentsModel` for a smolagents model.

`resolve_model` turns a model, a litellm model id, or the ``SMOLDEPOT_MODEL`` environment variable
into a `Model`. Failures are `ModelError`s whose messages say what to do.
"""

from .base import (
    Model,
    ModelAuthError,
    ModelContextWindowError,
    ModelError,
    ModelNotFoundError,
    ModelResponse,
    ModelUnavailableError,
    NoModelConfigured,
)
from .litellm_model import LiteLLMModel, flatten_message_content, warm_litellm_import
from .replay import ReplayModel
from .resolve import resolve_model
from .scripted import ScriptedModel, ScriptExhausted
from .smolagents_model import SmolagentsModel

__all__ = [
    "LiteLLMModel",
    "Model",
    "ModelAuthError",
    "ModelContextWindowError",
    "ModelError",
    "ModelNotFoundError",
    "ModelResponse",
    "ModelUnavailableError",
    "NoModelConfigured",
    "ReplayModel",
    "ScriptExhausted",
    "ScriptedModel",
    "SmolagentsModel",
    "flatten_message_content",
    "resolve_model",
    "warm_litellm_import",
]
