"""The sidecar kernel: model-written Python runs in its own ipykernel; tools stay in the host.

Three rooms: `Executor`, the protocol the agents depend on; `launch`, how a sidecar is started
and killed at each sandbox level; and the conversation with a running sidecar (`KernelExecutor`,
`receive`, `bridge`, `outputs`, `transfer`). `Execution` is what one action did.
"""

from .bridge import BUILTIN_NAMES, InputHandler
from .environment import CREDENTIAL_PATTERNS, sidecar_environment
from .execution import Execution, ExecutionError, SidecarObject, ToolCall
from .executor import ExecutionInterrupted, KernelExecutor, KernelStartError
from .guards import GuardRailViolation, check_action
from .launch import (
    SANDBOX_LEVELS,
    ResourceLimits,
    SandboxChoice,
    SandboxUnavailable,
    bwrap_problem,
    choose_level,
)
from .outputs import OutputListener
from .protocol import Executor
from .transfer import PullRefused, TransferError

__all__ = [
    "BUILTIN_NAMES",
    "CREDENTIAL_PATTERNS",
    "SANDBOX_LEVELS",
    "Execution",
    "ExecutionError",
    "ExecutionInterrupted",
    "Executor",
    "GuardRailViolation",
    "InputHandler",
    "KernelExecutor",
    "KernelStartError",
    "OutputListener",
    "PullRefused",
    "ResourceLimits",
    "SandboxChoice",
    "SandboxUnavailable",
    "SidecarObject",
    "ToolCall",
    "TransferError",
    "bwrap_problem",
    "check_action",
    "choose_level",
    "sidecar_environment",
]
