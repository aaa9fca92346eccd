"""Library behind the heart-disease CT/CD pipeline: one module per concern.

Definitions, used on every side:

- ``features``: the feature set, each feature's role and valid values, the label's meaning.
- ``errors``: the exception family.
- ``config``: every setting (store, paths, thresholds, run id, timeouts) from flag, environment
  or default.

Training side (the workflow's steps):

- ``dataset``: the one reader of the dataset CSV.
- ``validation``: data checks and drift, before anything is trained.
- ``training``: the model, its split, and a version's files (model, metrics, held-out rows).
- ``scores``: the one definition of accuracy and ROC AUC (numpy only).
- ``linear``: the fast path's parameters, exported from a fitted pipeline and checked.
- ``gate``: whether a candidate may replace the live model.
- ``artifacts``: the files a training run writes, the model file's format, integrity checks.
- ``report``: the Markdown run summary.

Store and operations:

- ``store``: the only code that talks to Cloud Storage or the local folder.
- ``registry``: the store's layout; archiving, promoting, rolling back, listing versions.
- ``history``: the archive's metrics shaped for the dashboard.
- ``events``: the CloudEvent consumers (dispatch on new data, alert on a slipping model).

Serving side (``main.py``):

- ``serving``: loading a published model, checking requests, shaping answers.
- ``logs``: Cloud Logging's JSON lines.
"""
