"""One small exception family, so steps can report any failure in one line.

Every exception the library raises on purpose is defined here, so a caller catches
by meaning (``except StoreError``) without importing the module that raised it.
"""

from __future__ import annotations


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


class IntegrityError(PipelineError):
    """A model's bytes do not match the sha256 its metrics record."""


class RollbackError(PipelineError):
    """The requested version cannot be made live."""


class RequestError(PipelineError):
    """A prediction request is malformed; ``field`` names the offending part.

    ``problems`` lists every (field, problem) found, the first being ``field``'s, so a
    client fixes a request in one round trip; simple clients read only the first.
    """

    def __init__(
        self,
        field: str,
        problem: str,
        status: int = 400,
        problems: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.status = status
        self.problems = problems or [(field, problem)]

    @classmethod
    def from_problems(cls, problems: list[tuple[str, str]]) -> RequestError:
        """One error for several problems, led by the first."""
        return cls(*problems[0], problems=problems)


class DownstreamUnavailable(PipelineError):
    """GitHub or Slack could not be reached or kept failing; a redelivery may succeed."""


class DownstreamRefused(PipelineError):
    """GitHub or Slack cannot be reached as configured (a redirect loop, a malformed URL or
    token); a redelivery cannot help. The message never quotes the URL's path or a token."""
