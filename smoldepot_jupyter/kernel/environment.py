"""The sidecar's environment: the host's, minus anything that looks like a credential.

Model-written code runs in the sidecar; it must not find the user's API keys in ``os.environ``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping

__all__ = ["CREDENTIAL_PATTERNS", "is_credential_name", "sidecar_environment"]

#: Shell-style patterns (matched case-insensitively) of variables never passed to the sidecar.
CREDENTIAL_PATTERNS: tuple[str, ...] = (
    "*_KEY",
    "*_KEYS",
    "*_API_KEY*",
    "*_TOKEN",
    "*_TOKENS",
    "*_SECRET",
    "*_SECRETS",
    "*SECRET_*",
    "*PASSWORD*",
    "*PASSWD*",
    "*_PASS",
    "*_CREDENTIALS",
    "*_CREDENTIAL",
    "*_AUTH",
    "*_PAT",
    "*SESSION_TOKEN*",
    "*PRIVATE_KEY*",
    "AWS_*",
    "AZURE_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_API_*",
    "GCP_*",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACE_*TOKEN*",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "NPM_TOKEN",
    "PYPI_*",
    "TWINE_*",
    "DATABASE_URL",
    "*_DATABASE_URL",
    "*_DSN",
    "SSH_AUTH_SOCK",
    "KUBECONFIG",
    "DOCKER_AUTH_CONFIG",
)

#: The host's own state that would change how the sidecar behaves (under pytest, ipykernel stops
#: capturing output written to file descriptors).
_HOST_ONLY = frozenset({"PYTEST_CURRENT_TEST"})

#: Variables set for every sidecar, overriding the host's.
_SIDECAR_SETTINGS = {
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "TERM": "dumb",
    "NO_COLOR": "1",
    "PYTHONUNBUFFERED": "1",
}


def is_credential_name(name: str) -> bool:
    """Whether an environment variable's name looks like it holds a credential."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in CREDENTIAL_PATTERNS)


def sidecar_environment(
    allowlist: Iterable[str] = (), base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a new sidecar: `base` (default ``os.environ``) minus credential-like
    variables except those named in `allowlist`, plus the sidecar's own settings."""
    allowed = set(allowlist)
    source = os.environ if base is None else base
    env = {
        k: v
        for k, v in source.items()
        if (k in allowed or not is_credential_name(k)) and k not in _HOST_ONLY
    }
    env.update(_SIDECAR_SETTINGS)
    env["JPY_PARENT_PID"] = str(os.getpid())
    return env
