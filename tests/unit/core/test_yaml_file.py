"""qgen.core.yaml_file: safe YAML that refuses a key written twice and bounds what aliases expand to (issue 29)."""

import pytest

from qgen.core import yaml_file
from qgen.core.errors import QgenInputError


def _error(text: str) -> str:
    with pytest.raises(QgenInputError) as e:
        yaml_file.load(text, "c.yaml")
    return str(e.value)


def test_a_duplicate_key_names_the_file_the_line_and_the_key():
    assert _error("lr: 1\nseed: 2\nlr: 3\n") == "c.yaml, line 3: malformed YAML: duplicate key 'lr'"
    assert "line 3" in _error("optim:\n  lr: 1\n  lr: 2\n")


def test_merge_keys_still_override():
    text = "base: &b {lr: 1, seed: 2}\nrun:\n  <<: *b\n  lr: 5\n"
    assert yaml_file.load(text, "c.yaml")["run"] == {"lr": 5, "seed": 2}


def _bomb(levels: int, width: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands():
    text = _bomb(7)  # 9**7 = 4.8 million strings from a few hundred bytes
    assert len(text) < 400
    assert "aliases add more than 100000 values" in _error(text)


def test_a_few_aliases_are_fine():
    data = yaml_file.load(_bomb(3), "c.yaml")  # 9**3 = 729 values
    assert len(data["l2"]) == 9 and data["l2"][0][0] == ["lol"] * 9


def test_a_recursive_alias_is_refused():
    assert "refers to its own anchor" in _error("a: &a [1, *a]\n")


def test_too_deep_nesting_is_a_named_error():
    assert _error("x: " + "[" * 3000 + "]" * 3000) == "c.yaml: malformed YAML: nested too deeply"
