r"""Run and lint the project's notebooks (``notebooks/NN_topic.ipynb``).

Every notebook follows the rules of the README section "Notebooks, `convexlab reproduce` and the claims table":

1. cell 1 is markdown: the statement, its citation (paper, equation, provenance tag) and what the
   figure shows;
2. one code cell tagged ``parameters`` sets ``FAST = True`` and the sizes and seeds (tools such as
   papermill, and :func:`execute` here, override it by inserting a cell right after it);
3. the body calls convexlab — no class definitions and no function longer than
   :data:`MAX_FUNCTION_LINES` lines;
4. the last code cell asserts the result.

Outputs are stripped before commit (:func:`lint` reports any stored output).
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

MAX_FUNCTION_LINES = 4
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def notebook_paths(directory: str | Path | None = None) -> list[Path]:
    """The ``NN_topic.ipynb`` notebooks of ``directory`` (default: the repository's ``notebooks/``)."""
    d = Path(directory) if directory is not None else NOTEBOOK_DIR
    if not d.is_dir():
        raise ValueError(f"notebook directory {str(d)!r} does not exist (the notebooks ship with the repository, "
                         "not with an installed wheel)")
    return sorted(p for p in d.glob("[0-9][0-9]_*.ipynb"))


def _read(path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def lint(path: str | Path) -> list[str]:
    """The design-guide §6 problems of a notebook (an empty list when it follows the rules)."""
    nb = _read(path)
    problems = []
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown":
        problems.append("cell 1 must be a markdown cell with the statement and its citation")
    elif not any(tag in cells[0].source for tag in ("arXiv", "provenance", "Provenance")):
        problems.append("cell 1 must cite the paper (arXiv id) and the provenance tag")
    code = [c for c in cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(params) != 1:
        problems.append(f"exactly one code cell must be tagged 'parameters', found {len(params)}")
    elif "FAST = True" not in params[0].source:
        problems.append("the parameters cell must set FAST = True")
    for i, c in enumerate(cells):
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None):
            problems.append(f"cell {i + 1} has stored outputs (strip them before commit)")
        if c.cell_type != "code":
            continue
        try:
            tree = ast.parse("\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        except SyntaxError as err:
            problems.append(f"cell {i + 1} does not parse: {err}")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                problems.append(f"cell {i + 1} defines class {node.name}: algorithm code belongs in convexlab")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    problems.append(f"cell {i + 1} defines {node.name}() with {n} lines (at most {MAX_FUNCTION_LINES}): "
                                    "move it into convexlab")
    if code and "assert" not in code[-1].source:
        problems.append("the last code cell must assert the result")
    return problems


def _parameters_index(nb) -> int | None:
    return next((i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])), None)


def parameter_names(path: str | Path) -> list[str]:
    """The names the notebook's ``parameters`` cell assigns at top level (``NAME = ...``,
    ``NAME: type = ...``, ``A, B = ...``), in order: the names ``convexlab reproduce --set`` may
    override. ValueError when the notebook has no cell tagged ``parameters`` or the cell does not parse."""
    path = Path(path)
    nb = _read(path)
    idx = _parameters_index(nb)
    if idx is None:
        raise ValueError(f"{path.name} has no cell tagged 'parameters'")
    try:
        tree = ast.parse(nb.cells[idx].source)
    except SyntaxError as err:
        raise ValueError(f"{path.name}: the parameters cell does not parse ({err.msg}, line {err.lineno})") from None
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            for n in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
                if isinstance(n, ast.Name) and n.id not in names:
                    names.append(n.id)
    return names


def override_parameters(source: str, parameters: dict) -> str:
    """The parameters cell with each top-level ``NAME = ...`` of an overridden name replaced by the
    override (in place, so the sizes derived from ``FAST`` below it follow the override); names the
    cell does not assign are added after it."""
    tree = ast.parse(source)
    lines = source.splitlines()
    done = set()
    for node in reversed(tree.body):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in parameters):
            name = node.targets[0].id
            lines[node.lineno - 1:node.end_lineno] = [f"{name} = {parameters[name]!r}  # injected"]
            done.add(name)
    lines += [f"{k} = {v!r}  # injected" for k, v in parameters.items() if k not in done]
    return "\n".join(lines)


def execute(path: str | Path, parameters: dict | None = None, *, timeout: int = 600, save_to: str | Path | None = None,
            kernel_name: str = "python3"):
    """Execute a notebook top to bottom with ``parameters`` injected after its ``parameters`` cell.

    Returns ``(notebook, seconds, error)``: ``error`` is None, or the message of the first failing
    cell (an ``assert`` included). The executed copy is written to ``save_to`` when given (also on
    failure, so that the traceback can be read there).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from convexlab._io import atomic_write

    path = Path(path)
    nb = _read(path)
    if parameters:
        idx = _parameters_index(nb)
        if idx is None:
            raise ValueError(f"{path.name} has no cell tagged 'parameters' to override")
        nb.cells[idx].source = override_parameters(nb.cells[idx].source, parameters)
        nb.cells[idx].metadata.setdefault("tags", []).append("injected-parameters")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as err:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # drop the traceback's terminal colours
        error = text.splitlines()[-1] if text else type(err).__name__
    seconds = time.perf_counter() - t0
    if save_to is not None:
        atomic_write(save_to, nbformat.writes(nb))
    return nb, seconds, error
