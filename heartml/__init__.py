"""Library behind the heart-disease CT/CD pipeline, in wings; each wing's docstring maps it.

Ground floor, read by every wing:

- ``errors``: the exception family.
- ``config``: every setting (store, paths, thresholds, timeouts) from flag,
  environment, project file or default.
- ``contract``: the data contract's parts: a column's valid values and role, a
  marker's direction.
- ``run_ids``: the rule a run id follows, this run's id, the commit it was built from.
- ``project_file``: where the project file is, and its TOML read once.
- ``project``: the project file (``project.toml``) read and checked: columns, label,
  slices, behaviour cases, model, the card's words.
- ``features``: the data contract as the steps use it, from the project file: the feature
  set, each feature's role and valid values, the label's meaning.
- ``logs``: log lines: Cloud Logging's JSON for the function, one escaped line for a step.
- ``text``: any value as one line of printable text, before a view escapes it.

Wings, each importing only the ground floor and the wings listed before it:

- ``store``: the bucket or folder, the registry's layout of versions in it, the model
  file's format, and the local run folder the steps hand files through.
- ``data``: reading the dataset CSV and checking it before anything trains on it.
- ``serving``: what the Cloud Function runs: the served model, the API's shapes, the
  bounded HTTP worker, the traffic monitor.
- ``model``: training, the scores, the gate, the model card's facts.
- ``ops``: what runs around the function: the event consumers, every outbound call
  (GitHub, Slack, the deployed function), the monitor's windows and its drift action.
- ``views``: everything rendered for people: Markdown, the run summary, the card page,
  the dashboard's tables and charts.

The function ships the ground floor but the project file's contents (``project``,
``features``: it parses with its model file's own ``contract``), ``store``, ``serving`` and
the two ``ops`` modules its event consumers run (``.gcloudignore``); nothing in the
package imports the dashboard, and only ``store`` imports google-cloud-storage.
"""
