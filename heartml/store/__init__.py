"""Store: where versions live, and the files that carry them.

- ``backends``: the only code that talks to Cloud Storage or the local folder (``open_store``).
- ``registry``: the store's layout; archiving, promoting, rolling back, listing versions.
- ``model_file``: the model file's and metrics record's format, read without running
  anything; integrity checks.
- ``dataset_file``: the store's dataset.csv, published from a file and fetched atomically.
- ``run_folder``: the files one run leaves in ``artifacts/`` and ``reports/`` for the next step.
"""
