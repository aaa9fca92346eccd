"""Thin command-line steps of the pipeline: ``python -m steps.<name> --help``.

Every step reads the project file as it imports the library, so a bad one is reported
here, in one line naming the key and the value, before any step's module loads.
"""

from steps._cli import check_project

check_project()
