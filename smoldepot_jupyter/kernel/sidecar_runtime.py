"""Code that runs inside the sidecar kernel: tool stubs, final_answer, the output budget, transfers.

The host sends this file's source text to the sidecar and executes it there as the module
``__smoldepot__``. It imports nothing from smoldepot_jupyter, so it works in any IPython kernel,
local or remote. Everything crossing to the host goes through ``input()`` on the Jupyter stdin
channel as JSON behind a private prefix; the host answers with JSON (pickles only host -> sidecar).

What this plumbing relies on (the streams and their output budget, the kernel's input, the names
final_answer, ToolError and the tool stubs, the execute hooks) is put back by `restore()` before
and after every action when model code replaced it, and reported to the host by `after_action()`.
"""

import base64
import builtins
import collections.abc
import contextlib
import inspect
import io
import json
import pickle
import sys
import threading
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
    "restore",
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
    # The kernel's raw_input as it was at install: tool stubs use it, so model code that
    # rebinds kernel.raw_input never sees the private prefix.
    "kernel_raw_input": None,
    # What restore() puts back: the original streams, names in the user namespace, kernel
    # methods; and what it found replaced since after_action() last reported.
    "streams": {},
    "class_writes": {},
    "names": {},
    "stubs": {},
    "kernel_methods": {},
    "restored": [],
    # Actions are numbered; a thread remembers the action that started it, and what it
    # prints once that action is over is left out (counted in "late").
    "action": 0,
    "running": False,
    "late": 0,
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
    raw = _state["kernel_raw_input"]
    if raw is not None:
        return raw(prompt)
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
    except RecursionError:
        raise ToolError(
            f"tool {name!r} was called with a value nested too deeply to send to the host. "
            "Pass flatter values, or save the data to a file and pass its path."
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
    except (TypeError, ValueError, RecursionError):
        request = {"final_answer_repr": _answer_repr(answer), "type": type(answer).__name__}
    reply = _bridge(request)
    if "error" in reply:
        raise ToolError(reply["error"]) from None
    _shell().user_ns["_final_answer"] = answer
    raise FinalAnswerSignal(answer)


def _answer_repr(answer):
    """The repr sent for an answer that is not JSON (or too deeply nested for JSON)."""
    try:
        return repr(answer)[:100_000]
    except RecursionError:
        raise ToolError(
            "final_answer() got a value nested too deeply to send or show. Give a flatter "
            "answer: a summary, or str() of the part that answers the task."
        ) from None
    except Exception as exc:
        return f"<{type(answer).__name__} object (its repr failed: {type(exc).__name__})>"


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
    """`write` (the stream class's own method) within the output budget of the action."""

    def write_within_budget(self, text):
        size = len(text)
        if _is_late():
            _state["late"] += size
            return size
        room = _state["limit"] - _state["used"]
        if size <= room:
            _state["used"] += size
            return write(self, text)
        if room > 0:
            write(self, text[:room])
            _state["used"] = _state["limit"]
        _state["dropped"] += size - max(room, 0)
        return size

    write_within_budget._smoldepot_limited = True
    return write_within_budget


def _limit_stream(stream):
    """Put the output budget on the write method of `stream`'s class: what wraps the
    instance's write (IPython 9 tees every cell's output into its history that way) then
    still goes through it. The class's own write is kept to call, once, however often this
    runs."""
    cls = type(stream)
    original = _state["class_writes"].setdefault(cls, cls.write)
    if not getattr(cls.__dict__.get("write"), "_smoldepot_limited", False):
        cls.write = _limited(original)


def _passes_through(own, cls):
    """Whether an instance-level write still reaches the class's (limited) write: a bound
    method of it, or IPython's history tee around one."""
    if getattr(own, "__func__", None) is cls.__dict__.get("write"):
        return True
    return "InteractiveShell._tee.<locals>" in getattr(own, "__qualname__", "")


def _thread_tag():
    """The action the calling thread works for: the running one for the shell's own thread,
    the one a thread was started (or given pool work) in otherwise; None when unknown."""
    thread = threading.current_thread()
    if thread is _state.get("main"):
        return _state["action"] if _state["running"] else None
    return getattr(thread, "_smoldepot_action", None)


def _is_late():
    """Whether the calling thread belongs to an action that is over: what it prints then
    belongs to no action the host follows (ipykernel would put it under the current one)."""
    thread = threading.current_thread()
    if thread is _state.get("main"):
        return False
    tag = getattr(thread, "_smoldepot_action", None)
    return tag is not None and (not _state["running"] or tag != _state["action"])


def _tagging_start(start):
    def start_tagged(self):
        # A Thread subclass that refuses new attributes stays untagged.
        with contextlib.suppress(Exception):
            self._smoldepot_action = _thread_tag()
        return start(self)

    start_tagged._smoldepot_tagging = True
    return start_tagged


def _tagging_submit(submit):
    def submit_tagged(self, fn, /, *args, **kwargs):
        tag = _thread_tag()

        def run_tagged(*a, **k):
            threading.current_thread()._smoldepot_action = tag
            return fn(*a, **k)

        return submit(self, run_tagged, *args, **kwargs)

    submit_tagged._smoldepot_tagging = True
    return submit_tagged


def _tag_threads():
    """Make every thread remember the action that started it, and pool workers the action
    that gave them their current task."""
    from concurrent.futures import ThreadPoolExecutor

    if not getattr(threading.Thread.start, "_smoldepot_tagging", False):
        threading.Thread.start = _tagging_start(threading.Thread.start)
    if not getattr(ThreadPoolExecutor.submit, "_smoldepot_tagging", False):
        ThreadPoolExecutor.submit = _tagging_submit(ThreadPoolExecutor.submit)


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
    """What the host reads from each execute_reply: dropped output, files read, the plumbing
    model code replaced (restored by now), and output left out from earlier actions' threads."""
    restore()
    facts = {"dropped": _state["dropped"], "files": list(_state["files"])}
    if _state["restored"]:
        facts["restored"] = list(_state["restored"])
        _state["restored"].clear()
    if _state["late"]:
        facts["late"] = _state["late"]
    return facts


def _restore_streams():
    found = []
    for name, stream in _state["streams"].items():
        if getattr(sys, name, None) is not stream:
            setattr(sys, name, stream)
            found.append(f"sys.{name}")
        cls = type(stream)
        if not getattr(cls.__dict__.get("write"), "_smoldepot_limited", False):
            _limit_stream(stream)
            found.append(f"{cls.__name__}.write")
        own = vars(stream).get("write")
        if own is None or _passes_through(own, cls):
            continue
        del stream.write  # back to the class's limited write
        if getattr(own, "__func__", None) is not _state["class_writes"].get(cls):
            # (a bound method of the unlimited original is what IPython's tee puts back
            # after a cell that began before the budget was on: not model code)
            found.append(f"sys.{name}.write")
    return found


def _restore_kernel():
    kernel = getattr(_shell(), "kernel", None)
    found = []
    for name, original in _state["kernel_methods"].items():
        if name in vars(kernel):  # an instance attribute hides the method
            delattr(kernel, name)
            found.append(f"kernel.{name}")
        if getattr(type(kernel), name, None) is not original:  # the class's was replaced
            setattr(type(kernel), name, original)
            found.append(f"kernel.{name}")
    return found


def _restore_names():
    namespace = _shell().user_ns
    found = []
    for name, value in (*_state["names"].items(), *_state["stubs"].items()):
        if namespace.get(name) is not value:
            namespace[name] = value
            found.append(name)
    module = _state["names"].get("__smoldepot__")
    if module is not None and sys.modules.get("__smoldepot__") is not module:
        sys.modules["__smoldepot__"] = module
        found.append("sys.modules['__smoldepot__']")
    return found


def _restore_hooks():
    events = _shell().events
    hooks = [("pre_execute", _pre_execute), ("post_execute", _post_execute)]
    if _state.get("cpu_seconds") is not None:
        hooks.append(("pre_execute", _arm_cpu_limit))
    found = []
    for event, hook in hooks:
        if hook not in events.callbacks[event]:
            events.register(event, hook)
            found.append(f"the {event} hook")
    return found


def restore():
    """Put back what this kernel's agent plumbing relies on, where model code replaced it
    (through globals(), exec, monkeypatching: what the host's guard-rail cannot see):
    sys.stdout/sys.stderr and their output budget, the kernel's raw_input/getpass, the names
    final_answer, ToolError, __smoldepot__ and the tool stubs, and the execute hooks. What was
    put back is kept for after_action() to report. A few identity checks: cheap enough to run
    before and after every action."""
    if _state["shell"] is None:
        return
    found = []
    for check in (_restore_streams, _restore_kernel, _restore_names, _restore_hooks):
        try:
            found += check()
        except Exception:  # model code broke it beyond repair: the others still run
            continue
    for name in found:
        if name not in _state["restored"]:
            _state["restored"].append(name)


def _guard_input(raw):
    def input(prompt=""):
        value = raw(prompt)
        if value.startswith(_state["prefix"]):
            reply = json.loads(value[len(_state["prefix"]) :])
            raise EOFError(reply.get("input_error", "input() is not available here"))
        return value

    return input


def _guarded(raw):
    guarded = _guard_input(raw)
    guarded._smoldepot_guarded = True
    return guarded


def _pre_execute():
    """Before every execution: restore the plumbing, number the action, start its output
    budget and list of files read, and route input() and getpass() through the guard (around
    the kernel's functions as they were at install, whatever model code rebound since)."""
    restore()
    _state["action"] += 1
    _state["running"] = True
    _state["used"] = 0
    _state["dropped"] = 0
    _state["late"] = 0
    _state["files"] = {}
    import getpass

    guarded = _state.get("guarded")
    if guarded is not None:
        builtins.input, getpass.getpass = guarded
        return
    if not getattr(builtins.input, "_smoldepot_guarded", False):
        builtins.input = _guarded(builtins.input)
    if not getattr(getpass.getpass, "_smoldepot_guarded", False):
        getpass.getpass = _guarded(getpass.getpass)


def _post_execute():
    """After every execution: what threads print from now on belongs to no action."""
    _state["running"] = False


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
        _state["stubs"].pop(name, None)
        if getattr(namespace.get(name), "__module__", None) == "tools":
            del namespace[name]
    for spec in json.loads(specs_json):
        stub = make_stub(spec["name"], spec.get("params"), spec.get("doc"), spec.get("returns"))
        namespace[spec["name"]] = _state["stubs"][spec["name"]] = stub


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


def _capture_plumbing(shell):
    """Remember, once per kernel, what restore() puts back: the streams, the kernel's input
    functions (tool stubs call the captured raw_input), and the guards around them."""
    if _state["streams"]:
        return
    import getpass

    _state["main"] = threading.current_thread()
    _state["streams"] = {
        name: stream
        for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr))
        if stream is not None
    }
    kernel = getattr(shell, "kernel", None)
    if kernel is None or not hasattr(kernel, "raw_input"):
        return
    _state["kernel_raw_input"] = kernel.raw_input
    methods = ("raw_input", "getpass", "_input_request")
    _state["kernel_methods"] = {
        name: getattr(type(kernel), name) for name in methods if hasattr(type(kernel), name)
    }
    password = kernel.getpass if hasattr(kernel, "getpass") else getpass.getpass
    _state["guarded"] = (_guarded(kernel.raw_input), _guarded(password))


def install(prefix, limit, workdir=None):
    """Set the bridge prefix and output budget; hook the shell once per kernel. `workdir` (the
    host's private directory) is removed at exit if the host died without removing it."""
    _state["shell"] = get_ipython()  # noqa: F821 - IPython's builtin in the sidecar
    _state["prefix"] = prefix
    _state["limit"] = limit
    if _state["raw_input"] is None:
        _state["raw_input"] = builtins.input
    shell = _shell()
    _capture_plumbing(shell)
    for stream in _state["streams"].values():
        _limit_stream(stream)
    for event, hook in (("pre_execute", _pre_execute), ("post_execute", _post_execute)):
        if hook not in shell.events.callbacks[event]:
            shell.events.register(event, hook)
    _tag_threads()
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
    _state["names"] = {"final_answer": final_answer, "ToolError": ToolError}
    if sys.modules.get("__smoldepot__") is not None:
        _state["names"]["__smoldepot__"] = sys.modules["__smoldepot__"]
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
