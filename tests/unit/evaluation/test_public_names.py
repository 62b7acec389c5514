"""Names users import from the package root keep working after the layers became folders."""

import qgen
from qgen.evaluation import metrics


def test_metrics_under_its_old_name():
    from qgen import metrics as old

    assert old is metrics and qgen.metrics.bleu is metrics.bleu


def test_unknown_name_is_an_attribute_error():
    try:
        qgen.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("qgen.no_such_name should not exist")
