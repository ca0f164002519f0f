"""M3ToolEval's five toolsets (behaviours in m3tooleval_env.py), offered as our tools (for code or
JSON tool-calling agents) and as smolagents tools, with every call logged.

The descriptions the model reads come from the env folder's ``tools.json``; the travel tables
and the web pages are read from the same folder at run time. Build the tools afresh for every
task: the web browser keeps state (page, scroll, history) for the length of one task.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks import m3tooleval_env as env
from benchmarks.m3tooleval_env import Browser, Environment, TravelAgency, load_environment
from smoldepot_jupyter.tools import FunctionTool, Tool, ToolDefinitionError

__all__ = [
    "TOOLSETS",
    "Arg",
    "Browser",
    "CallLog",
    "CallRecord",
    "Environment",
    "ToolSpec",
    "TravelAgency",
    "load_environment",
    "our_tools",
    "smolagents_tools",
    "toolset_specs",
]

#: The five domains, as tasks name them in their "toolset".
TOOLSETS = (
    "message_decoder",
    "cryptobotanists_plant_dna_sequencer",
    "trade_calculator",
    "travel_itinerary_planning",
    "web_browsing",
)


# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Arg:
    """One argument: JSON-schema type name, description, and whether it is ``*name``."""

    name: str
    type: str
    description: str
    variadic: bool = False


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, the function with the original behaviour, its arguments, output
    type and the description from tools.json."""

    name: str
    function: Callable[..., Any]
    args: tuple[Arg, ...]
    output_type: str
    description: str


def _a(name: str, kind: str, text: str, variadic: bool = False) -> Arg:
    return Arg(name, kind, text, variadic)


_CALC = _a("expression", "string", 'A Python arithmetic expression, e.g. "2 + (3 * 4)".')
_DNA = _a("dna_sequence", "string", "The DNA sequence, e.g. 'AGCT'.")
_MRNA = _a("mrna_sequence", "string", "The mRNA sequence, e.g. 'AUGC'.")
_NUMBERS = _a("args", "number", "The numbers, as separate arguments.", variadic=True)


def _table(
    environment: Environment, domain: str
) -> list[tuple[str, Callable[..., Any], tuple[Arg, ...], str]]:
    """(name, function, args, output type) of every tool of `domain`, with fresh state."""
    if domain == "message_decoder":
        values = _a("args", "any", "The values to compare, as separate arguments.", True)
        return [
            (
                "convert_hex_to_ascii",
                env.convert_hex_to_ascii,
                (_a("hex_string", "string", "The hexadecimal string, e.g. '48656c6c6f'."),),
                "string",
            ),
            (
                "reverse_string",
                env.reverse_string,
                (_a("string", "string", "The string to reverse."),),
                "string",
            ),
            (
                "caesar_decode",
                env.caesar_decode,
                (
                    _a("message", "string", "The encoded message."),
                    _a("shift", "integer", "How many places each letter was shifted."),
                ),
                "string",
            ),
            (
                "string_length",
                env.string_length,
                (_a("string", "string", "The string to measure."),),
                "integer",
            ),
            ("minimum_value", env.minimum_value, (values,), "any"),
            ("maximum_value", env.maximum_value, (values,), "any"),
        ]
    if domain == "cryptobotanists_plant_dna_sequencer":
        pairs = _a(
            "args", "any", "Nucleotides and their counts, alternating: k1, v1, k2, v2, ...", True
        )
        return [
            ("count_nucleotides", env.count_nucleotides, (_DNA,), "object"),
            ("transcribe_dna_to_mrna", env.transcribe_dna_to_mrna, (_DNA,), "string"),
            ("translate_mrna_to_amino_acid", env.translate_mrna_to_amino_acid, (_MRNA,), "string"),
            ("find_max_nucleotide", env.find_max_nucleotide, (pairs,), "any"),
            ("is_valid_dna_sequence", env.is_valid_dna_sequence, (_DNA,), "boolean"),
            (
                "reverse_transcribe_mrna_to_dna",
                env.reverse_transcribe_mrna_to_dna,
                (_MRNA,),
                "string",
            ),
        ]
    if domain == "trade_calculator":
        return [
            (
                "convert_currency",
                env.convert_currency,
                (
                    _a("base_price", "number", "The price in the commodity's currency."),
                    _a("conversion_rate", "number", "Local currency units per unit of it."),
                ),
                "number",
            ),
            (
                "calculate_tariff",
                env.calculate_tariff,
                (
                    _a("price", "number", "The price to tax."),
                    _a("tariff_rate", "number", "The tariff rate, in percent."),
                ),
                "number",
            ),
            (
                "estimate_final_value",
                env.estimate_final_value,
                (
                    _a("price", "number", "The price."),
                    _a("tariff", "number", "The tariff to add to it."),
                ),
                "number",
            ),
            ("calculator", env.calculator, (_CALC,), "number"),
            ("find_minimum", env.find_minimum, (_NUMBERS,), "number"),
            ("find_maximum", env.find_maximum, (_NUMBERS,), "number"),
        ]
    if domain == "travel_itinerary_planning":
        agency = TravelAgency(environment)
        return [
            (
                "find_flights",
                agency.find_flights,
                (
                    _a("from_location", "string", 'Where the flight leaves from, e.g. "A".'),
                    _a("to_location", "string", 'Where the flight goes, e.g. "B".'),
                    _a("date", "string", "The date, in YYYY-MM-DD format."),
                ),
                "array",
            ),
            (
                "book_hotel",
                agency.book_hotel,
                (
                    _a("location", "string", 'Where to stay, e.g. "A".'),
                    _a(
                        "preferences",
                        "string",
                        'Amenities the hotel must have, e.g. "wifi", "pool".',
                        True,
                    ),
                ),
                "array",
            ),
            (
                "budget_calculator",
                env.budget_calculator,
                (
                    _a("flight_price", "number", "The price of the flight."),
                    _a("hotel_price_per_night", "number", "The hotel's price per night."),
                    _a("num_nights", "integer", "How many nights."),
                ),
                "number",
            ),
            ("max", env.travel_max, (_NUMBERS,), "number"),
            ("min", env.travel_min, (_NUMBERS,), "number"),
            ("sum", env.travel_sum, (_NUMBERS,), "number"),
        ]
    if domain == "web_browsing":
        browser = Browser(environment)
        url = _a("url", "string", "The URL as shown in [Clickable '<url>'], e.g. '/about'.")
        return [
            ("click_url", browser.click_url, (url,), "string"),
            ("go_to_previous_page", browser.go_to_previous_page, (), "string"),
            ("scroll_down", browser.scroll_down, (), "string"),
            ("scroll_up", browser.scroll_up, (), "string"),
            ("view", browser.view, (), "string"),
            ("calculator", env.calculator, (_CALC,), "number"),
        ]
    raise ValueError(
        f"unknown M3ToolEval toolset {domain!r}; the toolsets are {', '.join(TOOLSETS)}"
    )


def toolset_specs(environment: Environment, domain: str) -> list[ToolSpec]:
    """The tools of `domain`, in tools.json order, with fresh state (a new browser)."""
    described = environment.descriptions.get(domain)
    if described is None:
        raise ValueError(f"{environment.folder}/tools.json has no toolset {domain!r}")
    table = {
        name: (function, args, output)
        for name, function, args, output in _table(environment, domain)
    }
    missing = [name for name in described if name not in table]
    if missing:
        raise ValueError(f"tools.json lists {missing} for {domain!r}, which are not implemented")
    return [
        ToolSpec(name, *table[name], description=description)
        for name, description in described.items()
    ]


# ---------------------------------------------------------------------------- call log


@dataclass
class CallRecord:
    """One call of a benchmark tool, by any agent: name, arguments and the error, if any."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    error: str | None = None


@dataclass
class CallLog:
    """Every tool call of one task, in order; the same for every agent, so tool use can be
    compared (calls and errors per task)."""

    calls: list[CallRecord] = field(default_factory=list)

    @property
    def errors(self) -> list[CallRecord]:
        return [call for call in self.calls if call.error is not None]

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function` with the same signature, recording each call here."""

        @functools.wraps(function)
        def logged(*args: Any, **kwargs: Any) -> Any:
            record = CallRecord(name, args, dict(kwargs))
            self.calls.append(record)
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                raise

        logged.__name__ = logged.__qualname__ = name
        return logged


# ---------------------------------------------------------------------- as our tools


class _VarArgsTool(Tool):
    """A tool that takes ``*args`` (eight M3ToolEval tools do), so model code calls it as the
    original does: ``minimum_value(3, 1, 2)``. `Tool.validate` wants one named parameter per
    input, which cannot express that, so this class checks the definition itself."""

    def __init__(
        self,
        name: str,
        description: str,
        inputs: dict[str, dict[str, Any]],
        output_type: str,
        function: Callable[..., Any],
    ) -> None:
        self.name = name
        self.description = description
        self.inputs = inputs
        self.output_type = output_type
        self.forward = function  # type: ignore[method-assign]

    def validate(self) -> None:
        parameters = inspect.signature(self.forward).parameters
        if list(parameters) != list(self.inputs):
            raise ToolDefinitionError(
                f"tool {self.name!r}: parameters {list(parameters)} differ from inputs "
                f"{list(self.inputs)}"
            )


def _input(arg: Arg, as_list: bool = False) -> dict[str, Any]:
    if as_list:
        entry: dict[str, Any] = {"type": "array", "description": arg.description}
        if arg.type != "any":
            entry["items"] = {"type": arg.type}
        return entry
    return {"type": arg.type, "description": arg.description}


def _with_list_for_varargs(spec: ToolSpec, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` taking its ``*name`` as one list argument ``name`` (for JSON tool calls)."""
    signature = inspect.Signature(
        [inspect.Parameter(a.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for a in spec.args]
    )

    def call(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        values: list[Any] = []
        for arg in spec.args:
            value = bound.arguments[arg.name]
            if arg.variadic:
                values.extend(value if isinstance(value, list | tuple) else [value])
            else:
                values.append(value)
        return function(*values)

    call.__name__ = call.__qualname__ = spec.name
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


#: Tools that *are* Python's builtins in the original's code mode (env README: "`max` and `min`
#: are the Python builtins"). Bridged from the host they would lose ``key=`` (a lambda cannot
#: cross the bridge), so in code mode they are not offered as tools: the model code calls
#: Python's own, as in the original and in smolagents' executor (whose builtins win over tools).
BUILTINS_IN_CODE = frozenset({"max", "min"})


def our_tools(
    environment: Environment,
    domain: str,
    *,
    mode: str = "code",
    log: CallLog | None = None,
) -> list[Tool]:
    """The tools of `domain` as our `Tool`s. ``mode="code"`` keeps ``*args`` signatures (model
    code calls ``sum(1, 2)``) and leaves out `BUILTINS_IN_CODE`; ``mode="json"`` turns each
    ``*name`` into a list argument ``name`` (tool calls name their arguments). Calls are
    recorded in `log` when given."""
    if mode not in ("code", "json"):
        raise ValueError(f"mode must be 'code' or 'json', not {mode!r}")
    tools: list[Tool] = []
    for spec in toolset_specs(environment, domain):
        if mode == "code" and spec.name in BUILTINS_IN_CODE:
            continue
        variadic = any(a.variadic for a in spec.args)
        function = spec.function
        if variadic and mode == "json":
            function = _with_list_for_varargs(spec, function)
        if log is not None:
            function = log.wrap(spec.name, function)
        inputs = {a.name: _input(a, as_list=a.variadic and mode == "json") for a in spec.args}
        if variadic and mode == "code":
            tools.append(
                _VarArgsTool(spec.name, spec.description, inputs, spec.output_type, function)
            )
        else:
            tools.append(
                FunctionTool(
                    function,
                    name=spec.name,
                    description=spec.description,
                    inputs=inputs,
                    output_type=spec.output_type,
                )
            )
    return tools


# ----------------------------------------------------------------- as smolagents tools


def _smolagents_forward(function: Callable[..., Any]) -> Callable[..., Any]:
    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return forward


def smolagents_tools(
    environment: Environment, domain: str, *, log: CallLog | None = None
) -> Sequence[Any]:
    """The tools of `domain` as smolagents `Tool` instances (same behaviour, descriptions and
    argument docs as `our_tools`; a ``*name`` argument shows as ``*name`` in its prompt)."""
    from smolagents import Tool as SmolagentsTool

    tools = []
    for spec in toolset_specs(environment, domain):
        function = log.wrap(spec.name, spec.function) if log is not None else spec.function
        inputs = {
            (f"*{a.name}" if a.variadic else a.name): {
                "type": a.type,
                "description": a.description,
            }
            for a in spec.args
        }
        attributes = {
            "name": spec.name,
            "description": spec.description,
            "inputs": inputs,
            "output_type": spec.output_type,
            "skip_forward_signature_validation": True,
            "forward": _smolagents_forward(function),
        }
        cls = type(f"M3ToolEval_{spec.name}", (SmolagentsTool,), attributes)
        tools.append(cls())
    return tools
