"""The sidecar kernel: model-written Python runs in its own ipykernel; tools stay in the host.

`KernelExecutor` owns the sidecar's life and runs actions; `Execution` is what one action did.
"""

from .bridge import BUILTIN_NAMES, InputHandler
from .environment import CREDENTIAL_PATTERNS, sidecar_environment
from .execution import Execution, ExecutionError, SidecarObject, ToolCall
from .executor import ExecutionInterrupted, KernelExecutor, KernelStartError
from .guards import GuardRailViolation, check_action
from .outputs import OutputListener
from .transfer import PullRefused, TransferError

__all__ = [
    "BUILTIN_NAMES",
    "CREDENTIAL_PATTERNS",
    "Execution",
    "ExecutionError",
    "ExecutionInterrupted",
    "GuardRailViolation",
    "InputHandler",
    "KernelExecutor",
    "KernelStartError",
    "OutputListener",
    "PullRefused",
    "SidecarObject",
    "ToolCall",
    "TransferError",
    "check_action",
    "sidecar_environment",
]
