"""Guard-rails checked before an action runs: authorized imports and protected tool names."""

from __future__ import annotations

import pytest
from conftest import result_text, stdout_text, value_of

pytestmark = pytest.mark.timeout(120)

AUTHORIZED = ["math", "numpy", "collections"]


def lookup(key: str) -> str:
    """Look a key up on the host."""
    return f"value of {key}"


@pytest.fixture(scope="module")
def guarded(make_module_executor):
    """A sidecar allowing only a few imports, with one tool."""
    ex = make_module_executor(authorized_imports=AUTHORIZED)
    ex.register_tools([lookup])
    return ex


def assert_refused(execution, *fragments: str) -> None:
    assert execution.error is not None, execution.observation()
    assert execution.error.ename == "GuardRailViolation"
    for fragment in fragments:
        assert fragment in execution.error.evalue
        assert fragment in execution.observation()


def test_import_outside_authorized_imports_is_refused_and_the_code_does_not_run(guarded, tmp_path):
    # Given an action with a side effect before an unauthorized import
    flag = tmp_path / "ran"
    code = f"open({str(flag)!r}, 'w').close()\nimport socket\n"

    # When it runs
    execution = guarded.run(code)

    # Then it is refused naming the module and the allowed ones, and nothing ran
    assert_refused(execution, "socket", "Allowed modules: collections, math, numpy")
    assert not flag.exists()
    assert execution.outputs == []


def test_from_import_outside_authorized_imports_is_refused(guarded):
    # When an action imports a name from a module that is not allowed
    execution = guarded.run("from os import path\nrefused_from_import = 1")

    # Then it is refused and did not run
    assert_refused(execution, "os")
    assert result_text(guarded.run("'refused_from_import' in globals()")) == "False"


def test_import_hidden_in_a_function_is_refused_too(guarded):
    # When the unauthorized import is inside a function body
    execution = guarded.run("def sneaky():\n    import subprocess\n    return subprocess")

    # Then the action is refused all the same
    assert_refused(execution, "subprocess")


def test_authorized_imports_and_their_submodules_are_allowed(guarded):
    # When an action imports allowed packages and their submodules
    code = (
        "import math\n"
        "import numpy.linalg\n"
        "from numpy.linalg import norm\n"
        "from collections.abc import Mapping\n"
        "float(norm([3, 4])) + math.sqrt(0)\n"
    )
    execution = guarded.run(code)

    # Then it runs
    assert execution.error is None, execution.observation()
    assert result_text(execution) == "5.0"


def test_a_module_sharing_a_prefix_with_an_authorized_one_is_not_allowed(guarded):
    # When an action imports a module whose name only starts like an allowed one
    execution = guarded.run("import mathematics_helper")

    # Then it is refused (only the package and its dotted submodules are allowed)
    assert_refused(execution, "mathematics_helper")


@pytest.mark.parametrize(
    ("code", "how"),
    [
        ("lookup = 'mine'", "assigns to"),
        ("lookup, other = 1, 2", "assigns to"),
        ("lookup += 'x'", "assigns to"),
        ("del lookup", "deletes"),
        ("def lookup(key):\n    return key", "defines a function named"),
        ("class lookup:\n    pass", "defines a class named"),
        ("lookup: str = 'annotated'", "assigns to"),
        ("(lookup := 5)", "assigns to"),
        ("import math as lookup", "imports over"),
        ("from math import sqrt as lookup", "imports over"),
        ("with open('/dev/null') as lookup:\n    pass", "binds with `as`"),
        ("try:\n    1 / 0\nexcept ZeroDivisionError as lookup:\n    pass", "except ... as"),
        ("for lookup in range(2):\n    pass", "loop variable"),
        ("def f():\n    global lookup\n    lookup = 1\nf()", "assigns to"),
        ("final_answer = print", "assigns to"),
        ("def final_answer(x):\n    return x", "defines a function named"),
        ("del final_answer", "deletes"),
        ("import math as final_answer", "imports over"),
    ],
)
def test_rebinding_a_tool_or_final_answer_is_refused(guarded, code, how):
    # Given a marker, and an action that rebinds a protected name after changing it
    guarded.run("rebinding_marker = 'untouched'")

    # When the action runs
    execution = guarded.run("rebinding_marker = 'changed'\n" + code)

    # Then it is refused, saying how and which name, and none of it ran
    assert_refused(execution, how)
    name = "final_answer" if "final_answer" in code else "lookup"
    assert f"`{name}`" in execution.error.evalue
    assert value_of(guarded, "rebinding_marker") == "'untouched'"
    # and the tool and final_answer still work
    assert value_of(guarded, "lookup('k')") == "'value of k'"
    assert guarded.run("final_answer(1)").final_answer == 1


def test_a_local_of_the_same_name_inside_a_function_is_allowed(guarded):
    # When a function body binds a local variable named like a tool
    code = (
        "def uses_local():\n"
        "    lookup = 'local only'\n"
        "    return lookup\n"
        "def uses_param(final_answer):\n"
        "    return final_answer\n"
        "print(uses_local(), uses_param(2))\n"
        "print(lookup('still the tool'))\n"
    )
    execution = guarded.run(code)

    # Then it runs, and the module-level tool is unchanged
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "local only 2\nvalue of still the tool\n"


def test_code_with_a_syntax_error_reaches_the_kernel_for_its_own_message(guarded):
    # When an action does not parse
    execution = guarded.run("import socket\nif True print('x')")

    # Then the guard lets the kernel report the syntax error
    assert execution.error is not None and execution.error.ename == "SyntaxError"


def test_without_authorized_imports_every_import_is_allowed(executor):
    # Given the default of authorized_imports=None
    # When an action imports anything
    execution = executor.run("import socket, subprocess\nsocket.__name__")

    # Then it runs
    assert execution.error is None, execution.observation()
    assert result_text(execution) == "'socket'"
