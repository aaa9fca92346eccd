"""Thin command-line steps of the pipeline: ``python -m steps.<name> --help``."""
