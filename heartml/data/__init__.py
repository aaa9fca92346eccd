"""Data: the dataset CSV, read once and checked before anything trains on it.

- ``dataset``: the one reader of the dataset CSV, and the held-out rows' file.
- ``validation``: the data checks, every one run, each failure named with its values.
- ``drift``: which features moved from the live version's training data.
"""
