"""qgen.core.values.coerce: a string-list setting holds strings, never a list written out as one (issue 29)."""

import pytest

from qgen.core.values import coerce


def test_string_lists():
    assert coerce("q,v", list[str]) == ["q", "v"]
    assert coerce(["<hl>", 2024], list[str]) == ["<hl>", "2024"]
    assert coerce(None, list[str]) == []


@pytest.mark.parametrize("value", [[["<hl>", "<sep>"]], ["q", ["v"]], ["a", ""], [{"a": 1}], [None], [True],
                                   {"q": 1}, 5])
def test_a_string_list_refuses_what_is_not_a_list_of_strings(value):
    with pytest.raises((TypeError, ValueError)):
        coerce(value, list[str])


@pytest.mark.parametrize("value", [["tiny-t5"], {"a": 1}])
def test_a_string_refuses_a_list_or_a_mapping(value):
    with pytest.raises(TypeError):
        coerce(value, str)
