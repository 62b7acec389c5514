"""`qgen serve`: a JSON API and a browser playground over qgen's inference, quiz scoring and hallucination checks.

A layer of its own above quiz, inference and evaluation (it uses all three) and below cli: `settings` (the caps and
knobs), `registry` (models by name), `batching` (micro-batches on worker threads), `texts` (candidate spans, sources,
quiz records), `engine` (the model work), `schemas` (request/response bodies), `app` (FastAPI routes, errors, the
page in `static/`).
"""
