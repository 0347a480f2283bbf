"""The error types a user may see; each carries one clear line of explanation."""


class GenreVAEError(Exception):
    """Base class: a problem with the user's input or parameters, not a bug."""


class ConfigError(GenreVAEError, ValueError):
    """A parameter is missing or invalid; the message starts with its dotted key."""


class AudioError(GenreVAEError):
    """An audio file cannot be used; the message says why and ``reason`` is a short code
    (missing, not_a_file, empty, undecodable, bad_sample_rate, non_finite, out_of_range,
    silent, too_short, not_audio)."""

    def __init__(self, message: str, reason: str = "undecodable") -> None:
        super().__init__(message)
        self.reason = reason


class DataError(GenreVAEError):
    """Input data is missing or unusable as a whole."""


class TrainingError(GenreVAEError):
    """Training cannot go on (for example, the loss became NaN or infinite)."""


class TrackingError(GenreVAEError):
    """The MLflow tracking store cannot be reached or refuses the run."""


class ArtifactError(DataError):
    """A file a stage wrote (and a later one reads) is missing or damaged; the message
    names it and says to rerun the stage that writes it."""


class ConcurrentRunError(GenreVAEError):
    """Another pipeline runs in this workspace, or the params changed under this one."""


class OutputError(GenreVAEError):
    """An output cannot be written where the parameters put it: the path holds a folder
    this project did not write (a stage refuses to replace it), a folder where a file
    goes, or the disk is full or read-only; the message names the path."""
