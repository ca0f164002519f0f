"""Guard-rails checked on an action's syntax tree before it runs.

They catch model mistakes (an import the task did not allow, overwriting a tool), fast and with
a message the model can act on. They are not a security boundary: code can always reach a module
through ``__import__`` or ``importlib``. Isolation is the sidecar process's job.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable

__all__ = ["GuardRailViolation", "check_action", "python_source"]


class GuardRailViolation(Exception):
    """An action was refused before running; the message says why and what to do instead."""


def python_source(code: str) -> str:
    """The plain Python IPython would run for `code` (magics and ``!shell`` lines transformed)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return code
    try:
        return TransformerManager().transform_cell(code)
    except Exception:
        return code


def _allowed(module: str, authorized: Collection[str]) -> bool:
    if "*" in authorized or module == "__future__":
        return True
    parts = module.split(".")
    return any(".".join(parts[:i]) in authorized for i in range(1, len(parts) + 1)) or any(
        a.endswith(".*") and module.startswith(a[:-1]) for a in authorized
    )


def _imported_modules(tree: ast.AST) -> Iterable[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _bound_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _bound_names(element)
    elif isinstance(target, ast.Starred):
        yield from _bound_names(target.value)


class _ToolRebinding(ast.NodeVisitor):
    """Finds module-level statements that rebind or delete a protected name."""

    def __init__(self, protected: Collection[str]) -> None:
        self.protected = protected
        self.found: list[tuple[int, str, str]] = []
        self._global_names: set[str] = set()
        self._depth = 0

    def _hit(self, node: ast.AST, name: str, how: str) -> None:
        if name in self.protected and (self._depth == 0 or name in self._global_names):
            self.found.append((getattr(node, "lineno", 0), name, how))

    def _scope(self, node: ast.AST) -> None:
        saved = self._global_names
        self._global_names = set()
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1
        self._global_names = saved

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._hit(node, node.name, "defines a function named")
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._scope(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._hit(node, node.name, "defines a class named")
        self._scope(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scope(node)

    def visit_Global(self, node: ast.Global) -> None:
        self._global_names.update(node.names)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            for name in _bound_names(target):
                self._hit(node, name, "assigns to")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        for name in _bound_names(node.target):
            self._hit(node, name, "assigns to")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        for name in _bound_names(node.target):
            self._hit(node, name, "assigns to")
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        for name in _bound_names(node.target):
            self._hit(node, name, "assigns to")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            for name in _bound_names(target):
                self._hit(node, name, "deletes")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        for name in _bound_names(node.target):
            self._hit(node, name, "uses as a loop variable")
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            for name in _bound_names(node.optional_vars):
                self._hit(node.context_expr, name, "binds with `as`")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._hit(node, node.name, "binds with `except ... as`")
        self.generic_visit(node)

    def _visit_import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            self._hit(node, name, "imports over")

    visit_Import = _visit_import  # type: ignore[assignment]
    visit_ImportFrom = _visit_import  # type: ignore[assignment]


def check_action(
    code: str,
    authorized_imports: Collection[str] | None = None,
    protected_names: Collection[str] = (),
) -> None:
    """Raise `GuardRailViolation` if `code` imports outside `authorized_imports` (None allows
    everything) or rebinds one of `protected_names` (the tools). Code that does not parse is let
    through: the kernel reports the syntax error in its own words."""
    try:
        tree = ast.parse(python_source(code))
    except (SyntaxError, ValueError):
        return
    if authorized_imports is not None:
        refused = sorted(
            {m for _, m in _imported_modules(tree) if not _allowed(m, authorized_imports)}
        )
        if refused:
            allowed = ", ".join(sorted(authorized_imports)) or "(none)"
            raise GuardRailViolation(
                f"Import of {', '.join(refused)} is not allowed here. "
                f"Allowed modules: {allowed}. Rewrite the action using only these."
            )
    if protected_names:
        finder = _ToolRebinding(set(protected_names))
        finder.visit(tree)
        if finder.found:
            line, name, how = finder.found[0]
            raise GuardRailViolation(
                f"Line {line} {how} `{name}`, which is a tool. The action was not run. "
                f"Call `{name}(...)` instead and keep results under another name."
            )
