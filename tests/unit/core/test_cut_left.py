"""core.text.cut_left: the one left cut of a prompt that keeps BOS (causal training, generation, quiz prompts)."""

from qgen.core.text import cut_left


def test_ids_that_fit_come_back_unchanged():
    ids = [1, 5, 6, 7]
    assert cut_left(ids, [1], 4) is ids
    assert cut_left(ids, [1], 10) is ids


def test_cut_from_the_left_keeping_bos():
    assert cut_left([1, 5, 6, 7, 8], [1], 3) == [1, 7, 8]
    assert cut_left([5, 6, 7, 8], [], 2) == [7, 8]  # no BOS (GPT-2 style): the last ids


def test_room_for_bos_only():
    assert cut_left([1, 5, 6], [1], 1) == [1]
    assert cut_left([1, 5, 6], [1], 0) == []
