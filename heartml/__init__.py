"""Library behind the heart-disease CT/CD pipeline: one module per concern.

- ``features``: the feature set, its roles and the label.
- ``store``: the only code that talks to Cloud Storage or the local folder.
- ``training``: the model and its metrics.
- ``registry``: archiving and promoting model versions in a store.
- ``serving``: loading a published model and answering predictions.
"""
