"""User-facing error types.

Library code raises these with a message that names the problem *and* the fix; the CLI turns
any ``FewdimsError`` into that message on stderr and exit status 2 (a user error), never a
traceback. Anything else escaping to the CLI is a bug in fewdims.
"""


class FewdimsError(Exception):
    """Base class of errors caused by input the user can fix."""


class CacheError(FewdimsError):
    """A feature cache is missing, incomplete, corrupt, or does not match what was asked."""


class DataError(FewdimsError):
    """A dataset file or split is missing, malformed, empty, or lacks labels that are needed."""


class ModelError(FewdimsError):
    """A model name or path cannot be loaded, or does not fit the request (layer, dims)."""


class ResultsError(FewdimsError):
    """A results file is missing, malformed, or from an incompatible version or model."""
