"""Views: everything rendered for people, from data the other wings return.

- ``markdown``: the one escaping formatter for a Markdown cell, code span or line.
- ``run_summary``: the run summary and the gate's verdict tables.
- ``card_page``: the model card as Markdown.
- ``version_list``: the archive as a terminal table (``make history``).
- ``archive_view``: the archive's versions shaped for the dashboard.
- ``traffic_report``: the monitor's report: its summary line and Markdown page.
- ``traffic_view``: the traffic windows shaped for the dashboard.
- ``api_docs``: ``openapi.yaml`` and the sample request, written from the project file
  (through ``openapi_template.yaml``).
"""
