"""models.padding.pad_rows: the one batch padding (training collation, generation, quiz scoring)."""

import torch

from qgen.models.padding import pad_rows


def test_right_padding():
    ids, mask = pad_rows([[5, 6, 7], [8]], 0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_left_padding_and_a_label_value():
    ids, mask = pad_rows([[5, 6, 7], [8]], -100, left=True)
    assert ids.tolist() == [[5, 6, 7], [-100, -100, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
