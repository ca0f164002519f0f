"""What a litellm failure means for us: retry it (after how long), or raise which `ModelError`.

Messages say what to do. Anything the provider said is shortened and has the API key and
credential-looking environment values masked, so no message ever carries a secret.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

from .base import (
    ModelAuthError,
    ModelContextWindowError,
    ModelError,
    ModelNotFoundError,
    ModelUnavailableError,
)

if TYPE_CHECKING:
    from .litellm_model import LiteLLMModel

__all__ = [
    "StreamCutOff",
    "is_retryable",
    "retry_after",
    "secrets_to_mask",
    "to_model_error",
    "unavailable",
]

_KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "huggingface": "HF_TOKEN",
}
_NOT_FOUND = re.compile(
    r"model\W.*not found|not found.*model|does not exist|unknown model|no such model"
    r"|model_not_found|invalid model",
    re.IGNORECASE | re.DOTALL,
)
_NO_PROVIDER = "LLM Provider NOT provided"
_MISSING_KEY = re.compile(r"missing credentials|api_key client option must be set", re.IGNORECASE)
_LITELLM_PREFIX = re.compile(r"^(?:(?:litellm\.)?\w*(?:Error|Exception)\s*[:-]\s*)+")
_SECRET_VARIABLE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_EXAMPLE_IDS = "'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5', 'ollama_chat/qwen2.5-coder'"


class StreamCutOff(Exception):
    """The provider's stream ended before the reply did: no finish reason came (litellm then
    reports a made-up "stop"), so the server or a proxy dropped the connection mid-answer."""


def is_retryable(litellm: Any, exc: Exception) -> bool:
    """Rate limits, 5xx, timeouts, connection failures and streams cut off mid-answer; not a
    missing key (litellm reports that as a 500)."""
    if isinstance(exc, StreamCutOff):
        return True
    if _MISSING_KEY.search(str(exc)):
        return False
    retryable = (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
        litellm.APIConnectionError,
        litellm.Timeout,
    )
    if isinstance(exc, retryable):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(exc, litellm.APIError) and isinstance(status, int) and status >= 500


def to_model_error(
    litellm: Any, exc: Exception, model: LiteLLMModel, secrets: list[str]
) -> Exception:
    """Our error for a failure not worth retrying; exceptions that are not litellm's come back
    unchanged (they are bugs to see, not provider failures)."""
    detail = describe(exc, secrets)
    said = f"(provider said: {detail})"
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError) or (
        _MISSING_KEY.search(str(exc))
    ):
        return ModelAuthError(
            f"authentication failed for model '{model.model_id}': {_key_hint(litellm, model)} "
            + said
        )
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ModelContextWindowError(
            f"the prompt does not fit the context window of '{model.model_id}': shorten the "
            f"history or use a model with a longer context {said}"
        )
    if _NO_PROVIDER in str(exc):
        return ModelNotFoundError(
            f"litellm cannot tell the provider of model '{model.model_id}': prefix the id with "
            f"one, e.g. {_EXAMPLE_IDS}, or 'openai/<name>' for an OpenAI-compatible server"
        )
    if isinstance(exc, litellm.NotFoundError) or (
        isinstance(exc, litellm.BadRequestError) and _NOT_FOUND.search(str(exc))
    ):
        return ModelNotFoundError(f"{_not_found_hint(model)} {said}")
    if isinstance(exc, litellm.APIError | litellm.BadRequestError):
        return ModelError(f"model '{model.model_id}' rejected the request: {detail}")
    return exc


def unavailable(
    exc: Exception, reason: str, model: LiteLLMModel, secrets: list[str]
) -> ModelUnavailableError:
    """The error for retryable failures that we stop retrying, with `reason` saying why."""
    garbage = _garbage(exc)
    if garbage is not None:
        where = f"the server at {model.api_base}" if model.api_base else "the provider"
        advice = (
            f"{where} answered with bytes that are not an OpenAI-style chat completion stream "
            f"({_mask(garbage, secrets)[:200]}): check that api_base points at an "
            "OpenAI-compatible server (usually ending in /v1)"
        )
    elif model.api_base and _is_connection_failure(exc) and not _is_timeout(exc):
        advice = f"is the server at {model.api_base} running?"
    else:
        advice = (
            f"try again later, or raise num_retries (now {model.num_retries}) or timeout "
            f"(now {model.timeout:g} s)"
        )
    return ModelUnavailableError(
        f"model '{model.model_id}' is unavailable ({reason}): {describe(exc, secrets)}; {advice}"
    )


def describe(exc: Exception, secrets: list[str]) -> str:
    """The provider's message: first line, without litellm's prefixes, secrets masked."""
    text = str(exc).strip()
    status = getattr(exc, "status_code", None)
    if _MISSING_KEY.search(text) or _is_connection_failure(exc) or "timed out" in text:
        status = None  # litellm's stand-in codes for failures that never reached a server
    message = text.splitlines()[0] if text else ""
    message = _LITELLM_PREFIX.sub("", message.split(" Original exception: ")[0]).rstrip(". ")
    message = _mask(message or type(exc).__name__, secrets)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"HTTP {status}: {message}" if isinstance(status, int) else message


def secrets_to_mask(api_key: str | None) -> list[str]:
    """The API key and the values of credential-looking environment variables."""
    found = [api_key] if api_key else []
    for name, value in os.environ.items():
        if _SECRET_VARIABLE.search(name) and len(value) >= 8:
            found.append(value)
    return found


def retry_after(exc: Exception) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After`` in seconds or
    as an HTTP date), if it said. litellm keeps the real headers in `litellm_response_headers`."""
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        if not headers:
            continue
        lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
        with contextlib.suppress(ValueError):
            if "retry-after-ms" in lowered:
                return float(lowered["retry-after-ms"]) / 1000
        value = lowered.get("retry-after")
        if value is None:
            continue
        try:
            return float(value)
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                moment = email.utils.parsedate_to_datetime(value)
                return max(0.0, moment.timestamp() - time.time())
    return None


def _key_hint(litellm: Any, model: LiteLLMModel) -> str:
    variable = _KEY_VARIABLES.get(model.provider)
    if variable is None:
        with contextlib.suppress(Exception):
            missing = litellm.validate_environment(model.model_id)["missing_keys"]
            variable = " or ".join(missing) if missing else None
    variable = variable or f"{model.provider.upper()}_API_KEY"
    if model.api_base:
        return (
            f"the server at {model.api_base} refused the key: pass api_key=... "
            f"(or set {variable}) with a key it accepts"
        )
    return f"set {variable} (or pass api_key=...) to a valid key"


def _not_found_hint(model: LiteLLMModel) -> str:
    hint = f"model '{model.model_id}' was not found: check the id (litellm ids look like "
    hint += _EXAMPLE_IDS + ")"
    if model.provider in {"ollama", "ollama_chat"}:
        hint += "; with Ollama, run `ollama pull <name>` first"
    if model.api_base:
        hint += (
            f"; check that {model.api_base} is right (OpenAI-compatible servers usually end in "
            f"/v1) and serves this model (GET {model.api_base.rstrip('/')}/models)"
        )
    return hint


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during, innermost last."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 12 and all(current is not c for c in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _garbage(exc: Exception) -> str | None:
    """What was wrong with an answer that was not HTTP, or not UTF-8 JSON events; None when
    the failure was not garbage from the server."""
    for cause in reversed(_causes(exc)):
        if isinstance(cause, UnicodeDecodeError | json.JSONDecodeError):
            return f"{type(cause).__name__}: {cause}"
        name, text = type(cause).__name__, str(cause)
        if name == "RemoteProtocolError" and "without sending a response" not in text:
            return f"not HTTP: {text}"
    return None


def _is_timeout(exc: Exception) -> bool:
    return "timed out" in str(exc).lower() or any(
        isinstance(c, TimeoutError) or "Timeout" in type(c).__name__ for c in _causes(exc)
    )


def _is_connection_failure(exc: Exception) -> bool:
    return "connection" in str(exc).lower() or "connect" in type(exc).__name__.lower()


def _mask(text: str, secrets: list[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
