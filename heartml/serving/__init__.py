"""Serving: what the Cloud Function runs (main.py's handlers stand on it).

- ``service``: the one serving object main.py's handlers call, made in the serving process.
- ``served_model``: which version serves, loaded only when its sha256 matches the pin.
- ``api``: the request and answer shapes; every refusal names its field.
- ``fast_path``: the linear scorer that answers without unpickling, exported at training.
- ``http_framing``: where a request ends, and the refusals of a malformed one.
- ``bounded_worker``: the gunicorn worker that reads requests whole before a thread serves one.
- ``process_hooks``: what runs as the serving process starts (the model loads) and stops.
- ``traffic_bins``: the bins traffic is counted in, fixed by the training rows.
- ``traffic_monitor``: the window of counts a serving process keeps and logs.
"""
