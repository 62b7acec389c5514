"""qgen: fine-tune and evaluate language models on Japanese (and Korean) QA, question generation and quizzes.

Heavy modules (torch, transformers, spaCy) are imported lazily so that `import qgen.metrics` (the notebook API:
qgen/metrics.py) stays light; `from qgen import metrics` is the same module.
"""

__version__ = "0.1.0"


def train(config):
    """Train a model from a `qgen.training.config.TrainConfig` (or a dict / YAML path); returns the run summary."""
    from qgen.training.loop import train as _train  # torch: `import qgen` stays light

    return _train(config)


__all__ = ["__version__", "train"]

