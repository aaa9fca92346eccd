"""Data: the dataset CSV, read once and checked before anything trains on it.

- ``dataset``: the one reader of the dataset CSV, and the held-out rows' file.
- ``validation``: the data checks and the drift check against the live version's data.
"""
