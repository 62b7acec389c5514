"""The YAML-template converter of `qgen prepare` (one converter instead of one script per data set).

Modules: `converter` (sections, running, writing), `records` (YAML with line numbers, records, format strings),
`inputs` (input formats, `fields:`, raw records), `step_base` (step parameters, base classes, the `STEPS` registry),
`steps` (filters, text steps), `dataset_steps` (the JSQuAD / quiz / KorQuAD rules). `load_template` is the entry point
that `qgen prepare` uses.
"""

from qgen.data.template.converter import load_template

__all__ = ["load_template"]
