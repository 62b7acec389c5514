"""Reliability suite (kill -9 sweep, signals, write errors, damaged checkpoints, the run lock, bad inputs, fuzzing).

A package so that its conftest.py does not shadow tests/conftest.py as the top-level module `conftest`.
"""
