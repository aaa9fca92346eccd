"""Ops: what runs around the function, and every call that leaves the pipeline.

- ``downstream``: the one HTTP helper (a deadline on the whole answer) and the calls
  made with it: GitHub's dispatch, Slack's webhook, the deployed function.
- ``events``: the CloudEvent consumers: dispatch on new data, alert on a slipping model.
- ``deploy_check``: proof that the deployed function serves the version just promoted.
- ``pull_request``: the pull request's report comment, found and updated in place.
- ``traffic_windows``: the function's traffic windows read back, merged and compared.
- ``traffic_check``: the monitor's day: the live version's traffic against its training rows.
- ``drift_action``: when drift is acted on (alert, maybe retrain), once per cooldown.
- ``local_function``: the function served on this machine, its traffic windows kept.
"""
