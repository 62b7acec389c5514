"""Readers and writers for every input format; each returns plain records and raises QgenInputError on bad input."""
