"""Names shared by several layers (one place each, so no layer has to import another's module for a string)."""

SAVED_NAME = "qgen_config.yaml"  # the run settings saved beside every checkpoint qgen writes
