"""qgen: fine-tune and evaluate language models on Japanese (and Korean) QA, question generation and quizzes.

Heavy modules (torch, transformers, spaCy) are imported lazily so that `import qgen.evaluation.metrics` in a notebook stays light.
"""

import importlib

__version__ = "0.1.0"


def train(config):
    """Train a model from a `qgen.training.config.TrainConfig` (or a dict / YAML path); returns the run summary."""
    from qgen.training.loop import train as _train  # torch: `import qgen` stays light

    return _train(config)


__all__ = ["__version__", "train"]


def __getattr__(name):
    """`from qgen import metrics` (the name before the layers became folders) still works: it is qgen.evaluation.metrics."""
    if name == "metrics":
        return importlib.import_module("qgen.evaluation.metrics")
    raise AttributeError(f"module 'qgen' has no attribute {name!r}")
