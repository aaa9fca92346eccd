"""One small exception family, so steps can report any failure in one line."""


class PipelineError(Exception):
    """A failure the pipeline reports and exits on; the message is the one-line reason."""


class ConfigError(PipelineError):
    """A setting is missing or malformed; the message names it."""


class DatasetError(PipelineError):
    """The dataset cannot be read or used for training."""


class StoreError(PipelineError):
    """The store could not be read or written."""


class ObjectNotFound(StoreError):
    """A key the pipeline needs is not in the store."""


class ObjectExists(StoreError):
    """A write would overwrite an object that must never change (an archived version)."""


class ModelLoadError(PipelineError):
    """A model file cannot be served (unreadable, wrong shape or wrong scikit-learn)."""
