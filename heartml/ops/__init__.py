"""Ops: what runs around the function, and every call that leaves the pipeline.

- ``downstream``: the one HTTP helper (a deadline on the whole answer) and the calls
  made with it: GitHub's dispatch, Slack's webhook, the deployed function.
- ``events``: the CloudEvent consumers: dispatch on new data, alert on a slipping model.
- ``pull_request``: the pull request's report comment, found and updated in place.
- ``traffic_windows``: the function's traffic windows read back, merged and compared.
- ``drift_action``: when drift is acted on (alert, maybe retrain), once per cooldown.
"""
