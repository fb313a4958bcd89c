"""Errors by meaning.  Every message is a plain sentence meant for the person using the
appliance; library errors are translated where they enter our code (`raise ... from exc`).

    RagError
    ├── UnsupportedFile        file type we do not read
    ├── ExtractionFailed       file is empty, damaged or has no text: read once more to be sure
    │   ├── FileRefused        the file's own beyond doubt (encrypted, over a limit): not retried
    │   └── ReadInterrupted    the machine's or the moment's (busy, reader crashed): retried
    ├── ModelNotFound          model file/folder missing from models_cache or settings
    ├── ModelMismatch          embedding model does not fit the database schema
    ├── DatabaseUnavailable    cannot reach or start PostgreSQL
    ├── DiskFull               the disk holding the database has no space left
    ├── ConfigurationError     a setting names something that does not exist
    ├── QuestionRejected       empty or over-long question
    │   └── RateLimited        too many questions from one person in a minute
    └── (rag_core.access.accounts)    AccountError, SignInFailed, AccessDenied
"""


class RagError(Exception):
    """Base class: `str(err)` is safe to show to a user."""


class UnsupportedFile(RagError):
    pass


class ExtractionFailed(RagError):
    """The file could not be read.  Said of a file that may have been caught half-written
    or by a passing fault, so it is read once more, quietly, before it counts as its own."""


class FileRefused(ExtractionFailed):
    """The file's own, whenever it is read: encrypted, over a size, page, row or
    character limit.  Not read again until it changes (or a person asks)."""


class ReadInterrupted(ExtractionFailed):
    """Not the file's fault: the machine was too busy to finish in the wall-clock
    backstop, or the reader process died.  Tried again with growing waits."""


class ModelNotFound(RagError):
    pass


class GenerationFailed(RagError):
    """The answer model could not finish an answer (its service ended or refused)."""


class GaveWay(GenerationFailed):
    """A background answer (the quality worker's) stopped so a person's is served first."""


class ModelMismatch(RagError):
    pass


class DatabaseUnavailable(RagError):
    pass


class DiskFull(RagError):
    pass


class ConfigurationError(RagError):
    pass


class QuestionRejected(RagError):
    pass


class RateLimited(QuestionRejected):
    pass
