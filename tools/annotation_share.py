"""Share of annotated parameters and of documented public functions in qgen's packages (issue 28's figures).

Usage: python tools/annotation_share.py qgen/core qgen/data ...
Counts every function and method parameter except `self` / `cls` (and `*args` / `**kwargs` alike), a return
annotation per function (`__init__` excluded: it returns None by definition), and public (no leading underscore)
functions and classes with a docstring. `@overload` declarations are left out: the implementation below them counts.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = fn.args
    every = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    every += [x for x in (a.vararg, a.kwarg) if x is not None]
    return [p for p in every if p.arg not in ("self", "cls")]


def _is_overload(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
        (d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else "") == "overload"
        for d in node.decorator_list)


def measure(folder: Path) -> dict[str, int]:
    """Counts for every .py file under `folder`."""
    n = dict(params=0, annotated=0, returns=0, returns_annotated=0, public=0, public_documented=0)
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _is_overload(node):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = _params(node)
                n["params"] += len(params)
                n["annotated"] += sum(p.annotation is not None for p in params)
                if node.name != "__init__":
                    n["returns"] += 1
                    n["returns_annotated"] += node.returns is not None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not node.name.startswith("_"):
                    n["public"] += 1
                    n["public_documented"] += ast.get_docstring(node) is not None
    return n


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.0f}%" if whole else "-"


def main(folders: list[str]) -> None:
    """Prints one line per folder and a total."""
    total: dict[str, int] = {}
    for folder in folders:
        n = measure(Path(folder))
        total = {k: total.get(k, 0) + v for k, v in n.items()}
        print(f"{folder}: parameters annotated {_share(n['annotated'], n['params'])}, "
              f"returns annotated {_share(n['returns_annotated'], n['returns'])}, "
              f"public documented {_share(n['public_documented'], n['public'])}")
    if len(folders) > 1:
        print(f"total: parameters annotated {_share(total['annotated'], total['params'])}, "
              f"returns annotated {_share(total['returns_annotated'], total['returns'])}, "
              f"public documented {_share(total['public_documented'], total['public'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
