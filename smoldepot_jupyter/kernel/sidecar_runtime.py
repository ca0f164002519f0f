"""Code that runs inside the sidecar kernel: tool stubs, final_answer, the output budget, transfers.

The host sends this file's source text to the sidecar and executes it there as the module
``__smoldepot__``. It imports nothing from smoldepot_jupyter, so it works in any IPython kernel,
local or remote. Everything crossing to the host goes through ``input()`` on the Jupyter stdin
channel as JSON behind a private prefix; the host answers with JSON (pickles only host -> sidecar).
"""

import base64
import builtins
import collections.abc
import inspect
import io
import json
import pickle
import sys
import warnings

__all__ = [
    "CPUTimeExceeded",
    "FinalAnswerSignal",
    "ToolError",
    "after_action",
    "call_tool",
    "dropped",
    "files_read",
    "final_answer",
    "install",
    "install_tools",
    "limit_cpu_per_action",
    "make_stub",
    "receive",
    "send",
]

_state = {
    "prefix": None,
    "limit": 1_000_000,
    "used": 0,
    "dropped": 0,
    "raw_input": None,
    "shell": None,
    "files": {},
    "tracking": False,
    "ignored": (),
}

_CODE_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pth", ".ttf", ".otf", ".afm", ".pyd")


class ToolError(Exception):
    """A host-side tool failed (or could not be called); the message is the host's."""


class FinalAnswerSignal(BaseException):
    """Raised by final_answer() to end the action; `except Exception` does not catch it."""


def _shell():
    return _state["shell"]


def _scalar_default(value):
    # numpy scalars are common in model code; send them as plain Python numbers.
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    raise TypeError(type(value).__name__)


_AS_LIST = (collections.abc.Iterator, collections.abc.Set, collections.abc.ValuesView, range)


def _argument_default(value):
    """Tool arguments with no JSON form: numpy values, and collections (generators, sets,
    ranges, dict views, map objects) sent as the list of their items, as the tool would have
    iterated them. Functions and other objects still fail, with the JSON explanation."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, _AS_LIST):
        return list(value)
    raise TypeError(type(value).__name__)


def _dumps(value):
    return json.dumps(value, default=_scalar_default)


def _kernel_input(prompt):
    kernel = getattr(_shell(), "kernel", None)
    if kernel is not None and hasattr(kernel, "raw_input"):
        return kernel.raw_input(prompt)
    return _state["raw_input"](prompt)


def _bridge(request):
    reply_text = _kernel_input(_state["prefix"] + _dumps(request))
    try:
        return json.loads(reply_text)
    except ValueError:
        raise ToolError("the host sent an unreadable reply to a bridge request") from None


def _decode_result(name, reply):
    if "pickle" not in reply:
        return reply.get("result")
    try:
        return pickle.loads(base64.b64decode(reply["pickle"]))
    except Exception as exc:
        raise ToolError(
            f"tool {name!r} returned a value the sidecar cannot load "
            f"({type(exc).__name__}: {exc}); make the tool return JSON values"
        ) from None


def call_tool(name, args, kwargs):
    """Call the host tool `name`; arguments travel as JSON, the result comes back."""
    try:
        request = json.dumps(
            {"tool": name, "args": list(args), "kwargs": dict(kwargs)}, default=_argument_default
        )
    except (TypeError, ValueError) as exc:
        raise ToolError(
            f"tool {name!r} was called with a value that cannot be sent to the host "
            f"({exc}): tools take JSON values (str, int, float, bool, None, list, dict). "
            "Convert it first, for example with .tolist(), .to_dict() or str()."
        ) from None
    reply_text = _kernel_input(_state["prefix"] + request)
    try:
        reply = json.loads(reply_text)
    except ValueError:
        raise ToolError(f"tool {name!r}: the host sent an unreadable reply") from None
    if "error" in reply:
        raise ToolError(reply["error"]) from None
    return _decode_result(name, reply)


def final_answer(answer):
    """Give the final answer to the task and end the run. Nothing after this call runs."""
    try:
        request = {"final_answer": json.loads(_dumps(answer))}
        if type(answer) is tuple:
            request["python_type"] = "tuple"  # JSON has no tuples; the host rebuilds it
    except (TypeError, ValueError):
        request = {"final_answer_repr": repr(answer)[:100_000], "type": type(answer).__name__}
    reply = _bridge(request)
    if "error" in reply:
        raise ToolError(reply["error"]) from None
    _shell().user_ns["_final_answer"] = answer
    raise FinalAnswerSignal(answer)


class _Shown:
    """A default value or annotation shown by its source text (it may not exist here)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _signature(spec):
    params = []
    for p in spec:
        kind = getattr(inspect.Parameter, p["kind"])
        if "default" in p:
            default = p["default"]
        elif "default_repr" in p:
            default = _Shown(p["default_repr"])
        else:
            default = inspect.Parameter.empty
        annotation = _Shown(p["annotation"]) if "annotation" in p else inspect.Parameter.empty
        params.append(inspect.Parameter(p["name"], kind, default=default, annotation=annotation))
    return inspect.Signature(params)


def make_stub(name, params, doc, returns=None):
    """Build the sidecar function for host tool `name`: its signature and docstring, no body."""
    signature = None
    if params is not None:
        signature = _signature(params)
        if returns:
            signature = signature.replace(return_annotation=_Shown(returns))

    def stub(*args, **kwargs):
        if signature is not None:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}{signature}: {exc}") from None
        return call_tool(name, args, kwargs)

    stub.__name__ = stub.__qualname__ = name
    stub.__module__ = "tools"
    stub.__doc__ = doc
    if signature is not None:
        stub.__signature__ = signature
    return stub


def _limited(write):
    def write_within_budget(text):
        size = len(text)
        room = _state["limit"] - _state["used"]
        if size <= room:
            _state["used"] += size
            return write(text)
        if room > 0:
            write(text[:room])
            _state["used"] = _state["limit"]
        _state["dropped"] += size - max(room, 0)
        return size

    return write_within_budget


def _ignored_prefixes():
    import os
    import site
    import tempfile

    home = os.path.expanduser("~")
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/sys", "/dev", "/etc"}
    prefixes.update(("/usr/", "/lib/", "/bin/", "/run/", "/var/lib/"))
    prefixes.update(p for p in (getattr(site, "getsitepackages", list)()) if p)
    prefixes.add(getattr(site, "getusersitepackages", lambda: "")() or "/nonexistent")
    for name in (".cache", ".config", ".local", ".ipython", ".jupyter", ".matplotlib"):
        prefixes.add(os.path.join(home, name))
    for name in ("IPYTHONDIR", "MPLCONFIGDIR", "JUPYTER_RUNTIME_DIR"):
        if os.environ.get(name):
            prefixes.add(os.environ[name])
    prefixes.add(os.path.join(tempfile.gettempdir(), "smoldepot-"))
    return tuple(sorted(p for p in prefixes if p))


def _audit(event, args):
    if event != "open" or not _state["tracking"]:
        return
    try:
        path, mode, flags = args
        if isinstance(path, int):
            return
        if mode is None:
            if flags & 3:  # O_WRONLY or O_RDWR
                return
        elif any(c in mode for c in "wax+"):
            return
        import os

        full = os.path.abspath(os.fsdecode(path))
        if full.endswith(_CODE_SUFFIXES) or full.startswith(_state["ignored"]):
            return
        if not os.path.isfile(full):
            return
        cwd = os.getcwd()
        shown = os.path.relpath(full, cwd) if full.startswith(cwd + os.sep) else full
        _state["files"][shown] = None
    except Exception:
        return


def files_read():
    """Data files the current action opened for reading (relative to the working directory)."""
    return list(_state["files"])


def dropped():
    """Characters of stdout/stderr dropped by the output budget during the current action."""
    return _state["dropped"]


def after_action():
    """What the host reads from each execute_reply: dropped output and files read."""
    return {"dropped": _state["dropped"], "files": list(_state["files"])}


def _guard_input(raw):
    def input(prompt=""):
        value = raw(prompt)
        if value.startswith(_state["prefix"]):
            reply = json.loads(value[len(_state["prefix"]) :])
            raise EOFError(reply.get("input_error", "input() is not available here"))
        return value

    return input


def _pre_execute():
    _state["used"] = 0
    _state["dropped"] = 0
    _state["files"] = {}
    current = builtins.input
    if not getattr(current, "_smoldepot_guarded", False):
        guarded = _guard_input(current)
        guarded._smoldepot_guarded = True
        builtins.input = guarded
    import getpass

    current = getpass.getpass
    if not getattr(current, "_smoldepot_guarded", False):
        guarded = _guard_input(current)
        guarded._smoldepot_guarded = True
        getpass.getpass = guarded


def _custom_exceptions(shell, etype, value, tb, tb_offset=None):
    """final_answer's signal ends the action quietly; a NameError, KeyError, AttributeError
    or FileNotFoundError is shown as usual with "Did you mean" added (IPython's tracebacks
    leave out Python's own suggestions). IPython shows nothing itself for these exceptions:
    this handler does the showing."""
    if etype is FinalAnswerSignal:
        return None
    suggestions = sys.modules.get("__smoldepot_suggestions__")
    if suggestions is not None:
        suggestions.add_suggestion(etype, value, tb, shell.user_ns)
    shell.showtraceback((etype, value, tb), running_compiled_code=True)
    return None


def _each_warning_once(show):
    """Wrap warnings.showwarning so that each warning text is shown once per sidecar: the
    filters still decide what is shown, but a deprecation repeated by every later action is
    noise that small models take for an error to fix."""
    seen = set()

    def showwarning(message, category, filename, lineno, file=None, line=None):
        key = (category, str(message))
        if key in seen:
            return
        seen.add(key)
        show(message, category, filename, lineno, file, line)

    showwarning._smoldepot_once = True
    return showwarning


def _exit_action(code=None):
    """End this action, as sys.exit() does; the kernel and its variables stay."""
    raise SystemExit(code)


def receive(name, token):
    """Fetch the pickled value the host is pushing and bind it to `name` in the user namespace."""
    reply = _bridge({"fetch": token})
    if "error" in reply:
        raise ToolError(reply["error"]) from None
    _shell().user_ns[name] = pickle.loads(base64.b64decode(reply["pickle"]))


def _is_json(value, depth=0):
    if depth > 100:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if type(value) is list:
        return all(_is_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _encode(value, trust):
    if _is_json(value):
        return {"kind": "json", "data": value}
    module = type(value).__module__ or ""
    if module == "numpy" and getattr(value, "ndim", None) == 0 and _is_json(value.item()):
        return {"kind": "json", "data": value.item()}
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.Series | pd.DataFrame):
            frame = value.to_frame(name="__series__") if isinstance(value, pd.Series) else value
            series_name = value.name if isinstance(value, pd.Series) else None
            extra = {"series": isinstance(value, pd.Series), "name": series_name}
            if not _is_json(series_name):
                extra["name"] = None
            try:
                buffer = io.BytesIO()
                frame.to_parquet(buffer)
                return {"kind": "parquet", "data": _b64(buffer.getvalue()), **extra}
            except Exception:
                # Parquet refuses columns of mixed types; CSV would change their values.
                if trust:
                    return {"kind": "pickle", "data": _b64(pickle.dumps(value))}
                kind = f"{module}.{type(value).__qualname__} (parquet cannot store it as is)"
                return {"kind": "refused", "type": kind}
    if module == "numpy" and type(value).__name__ == "ndarray" and value.dtype.hasobject is False:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {"kind": "npy", "data": _b64(buffer.getvalue())}
    if trust:
        return {"kind": "pickle", "data": _b64(pickle.dumps(value))}
    return {"kind": "refused", "type": f"{module}.{type(value).__qualname__}".lstrip(".")}


def send(name, token, trust):
    """Send the user variable `name` to the host: JSON, parquet/CSV, .npy, or pickle if trusted."""
    namespace = _shell().user_ns
    payload = {"kind": "missing"} if name not in namespace else _encode(namespace[name], trust)
    payload["pull"] = token
    reply = _bridge(payload)
    if "error" in reply:
        raise ToolError(reply["error"]) from None


def install_tools(specs_json, removed_json="[]"):
    """Define one stub per host tool in the user namespace (specs are JSON from the host), and
    remove the stubs of tools no longer offered (a name model code rebound is left alone)."""
    namespace = _shell().user_ns
    for name in json.loads(removed_json):
        if getattr(namespace.get(name), "__module__", None) == "tools":
            del namespace[name]
    for spec in json.loads(specs_json):
        namespace[spec["name"]] = make_stub(
            spec["name"], spec.get("params"), spec.get("doc"), spec.get("returns")
        )


def _remove_private_dir_if_orphaned(workdir):
    import os
    import shutil

    parent = os.environ.get("JPY_PARENT_PID")
    try:
        os.kill(int(parent), 0)
    except (TypeError, ValueError, ProcessLookupError):
        shutil.rmtree(workdir, ignore_errors=True)
    except OSError:
        return


def install(prefix, limit, workdir=None):
    """Set the bridge prefix and output budget; hook the shell once per kernel. `workdir` (the
    host's private directory) is removed at exit if the host died without removing it."""
    _state["shell"] = get_ipython()  # noqa: F821 - IPython's builtin in the sidecar
    _state["prefix"] = prefix
    _state["limit"] = limit
    if _state["raw_input"] is None:
        _state["raw_input"] = builtins.input
    shell = _shell()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and not getattr(stream.write, "_smoldepot_limited", False):
            limited = _limited(stream.write)
            limited._smoldepot_limited = True
            stream.write = limited
    if _pre_execute not in shell.events.callbacks["pre_execute"]:
        shell.events.register("pre_execute", _pre_execute)
    if workdir and not _state.get("cleanup"):
        import atexit

        atexit.register(_remove_private_dir_if_orphaned, workdir)
        _state["cleanup"] = True
    if not _state["tracking"]:
        _state["ignored"] = _ignored_prefixes()
        sys.addaudithook(_audit)
        _state["tracking"] = True
    shell.set_custom_exc(
        (FinalAnswerSignal, NameError, KeyError, AttributeError, FileNotFoundError),
        _custom_exceptions,
    )
    shell.user_ns["final_answer"] = final_answer
    shell.user_ns["ToolError"] = ToolError
    # IPython's exit() would shut the whole sidecar down; here it ends only the action.
    shell.user_ns["exit"] = shell.user_ns["quit"] = _exit_action
    shell.ask_exit = _exit_action
    warnings.filterwarnings("ignore", message="To exit: use")
    if not getattr(warnings.showwarning, "_smoldepot_once", False):
        warnings.showwarning = _each_warning_once(warnings.showwarning)


def _cpu_used():
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CPUTimeExceeded(TimeoutError):
    """The action used more CPU time than the sandbox allows one action."""


def _on_cpu_limit(signum, frame):
    seconds = _state.get("cpu_seconds")
    raise CPUTimeExceeded(f"the action used more than {seconds:g} s of CPU time, its limit")


def _arm_cpu_limit():
    import resource

    seconds = _state.get("cpu_seconds")
    if seconds is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(_cpu_used() + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        return


def limit_cpu_per_action(seconds):
    """Give each action at most `seconds` of CPU time (None: no limit): the soft RLIMIT_CPU is
    moved before every action, and SIGXCPU raises `CPUTimeExceeded` in the action."""
    import signal

    _state["cpu_seconds"] = seconds
    if seconds is None:
        return
    signal.signal(signal.SIGXCPU, _on_cpu_limit)
    shell = _shell()
    if _arm_cpu_limit not in shell.events.callbacks["pre_execute"]:
        shell.events.register("pre_execute", _arm_cpu_limit)
