"""Safe YAML for every settings file qgen reads: PyYAML's SafeLoader plus two checks it lacks.

- A key written twice in one mapping is an error naming its line (PyYAML keeps the last value silently, so a
  setting written twice in a config used whichever came last). Merge keys (`<<: *base`) still override as YAML says.
- What aliases expand to is bounded: a few hundred bytes of nested `&a [*b, *b, …]` anchors ("billion laughs") would
  otherwise expand into millions of values, and every checkpoint saves its config written out in full. The document
  is counted as composed, before anything is built: a node reached through an alias counts again each time.
"""

from __future__ import annotations

from typing import Any

import yaml

from qgen.core.errors import PathArg, QgenInputError

MAX_EXPANDED_NODES = 100_000  # values a document's aliases may add beyond its own (a config has a few hundred)
MERGE_TAG = "tag:yaml.org,2002:merge"


class _Expansion:
    """Counts the nodes a composed document expands to, each aliased node counted once per reference."""

    def __init__(self, limit: int):
        self.limit = limit
        self.sizes: dict[int, int] = {}
        self.open: set[int] = set()

    def size(self, node: yaml.Node) -> int:
        """Nodes under `node`, aliases expanded; memoised by id, as a bomb reuses one anchor many times."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            raise yaml.composer.ComposerError(None, None, "an alias refers to its own anchor (a recursive value)",
                                              node.start_mark)
        self.open.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(self.size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(self.size(k) + self.size(v) for k, v in node.value)
        self.open.discard(key)
        if total > self.limit:
            raise yaml.composer.ComposerError(
                None, None, f"aliases add more than {MAX_EXPANDED_NODES} values to the document (an alias bomb?)",
                node.start_mark)
        self.sizes[key] = total
        return total


class SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader refusing duplicate keys, recursive aliases and alias expansion beyond MAX_EXPANDED_NODES."""

    def compose_document(self) -> yaml.Node | None:
        """PyYAML's document, refused before construction when its aliases expand too far."""
        node = super().compose_document()
        if node is not None:
            _Expansion(_unique_nodes(node) + MAX_EXPANDED_NODES).size(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """PyYAML's mapping, refused when a key is written twice (PyYAML would keep the last silently)."""
        if isinstance(node, yaml.MappingNode):
            check_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)


def _unique_nodes(root: yaml.Node) -> int:
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    return len(seen)


def check_duplicate_keys(loader: yaml.constructor.BaseConstructor, node: yaml.MappingNode) -> None:
    """ConstructorError at the second occurrence of a key written twice in `node` (merged keys `<<` excepted)."""
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)


def load(text: str, path: PathArg | None, loader: type = SafeLoader) -> Any:
    """The YAML document in `text` (read from `path`); any YAML error is a QgenInputError naming the file and line."""
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise QgenInputError("malformed YAML: nested too deeply", path=path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise QgenInputError(f"malformed YAML: {problem}", path=path, line=mark.line + 1 if mark else None) from None
