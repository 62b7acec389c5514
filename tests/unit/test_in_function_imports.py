"""No import inside a function unless it says why it is lazy: a comment on its import block (e.g. `# torch:
predict.py --help stays fast`, `# a cycle: qgen.cli.summarize imports this module`). A light import belongs at the top
of the module."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def undocumented_imports(root: Path) -> list[str]:
    """`file:line module` (file from root's parent) for every import inside a function under `root` with no comment
    on an import line from three lines above it to two below its end (its import block)."""
    found = set()
    for path in sorted(root.rglob("*.py")):
        src = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(ast.parse("\n".join(src), filename=str(path))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                block = src[max(0, node.lineno - 4): node.end_lineno + 3]
                if any("#" in line for line in block if line.strip().startswith(("from ", "import "))):
                    continue
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                found.add((path.relative_to(root.parent).as_posix(), node.lineno, module))
    return [f"{p}:{line} {m}" for p, line, m in sorted(found)]


def test_every_in_function_import_in_qgen_says_why():
    bad = undocumented_imports(REPO / "qgen")
    assert not bad, ("in-function imports without a comment (move a light one to the module top, or say why it is "
                     "lazy):\n" + "\n".join(bad))


def test_the_check_finds_an_undocumented_import(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        "import os\n\n\n"
        "def documented():\n    import torch  # torch: only when called\n\n    return torch\n\n\n"
        "def bare():\n    import json\n\n    return json\n\n\n"
        "class C:\n    async def method(self):\n        def inner():\n            from pathlib import Path\n\n"
        "            return Path\n        return inner\n")
    assert undocumented_imports(tmp_path / "pkg") == ["pkg/mod.py:11 json", "pkg/mod.py:19 pathlib"]
