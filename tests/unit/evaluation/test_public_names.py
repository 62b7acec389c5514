"""Names users import from the package root keep working after the layers became folders."""

import qgen
import qgen.metrics
from qgen.evaluation import hallucination, metrics, records


def test_metrics_under_both_spellings():
    from qgen import metrics as old

    assert old is qgen.metrics  # `import qgen.metrics` and `from qgen import metrics`: one module
    assert qgen.metrics.bleu is metrics.bleu and qgen.metrics.sentence_bleu is metrics.sentence_bleu
    assert qgen.metrics.read_predictions is records.read_predictions


def test_metrics_module_names_the_hallucination_checker():
    assert qgen.metrics.hallucination_rate is hallucination.hallucination_rate
    assert qgen.metrics.QUESTION_STOP_WORDS is hallucination.QUESTION_STOP_WORDS
    missing = [n for n in qgen.metrics.__all__ if not hasattr(qgen.metrics, n)]
    assert not missing


def test_unknown_name_is_an_attribute_error():
    for module in (qgen, qgen.metrics):
        try:
            module.no_such_name  # noqa: B018
        except AttributeError as e:
            assert "no_such_name" in str(e)
        else:
            raise AssertionError(f"{module.__name__}.no_such_name should not exist")
