"""Model: a version trained, scored, judged and described.

- ``training``: the model and a version's files (model, metrics, held-out rows).
- ``holdout``: which rows are held out for evaluation, by each row's content hash.
- ``scores``: the one definition of accuracy, ROC AUC and their intervals (numpy only).
- ``behaviour``: the behavioural checks every deployable model must pass.
- ``gate``: whether a candidate may replace the live model.
- ``model_card``: a version's card as data, and how it differs from the live one's.
"""
