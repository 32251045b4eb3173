"""The errors grokscan raises for bad input; the CLI turns each into a one-line message."""


class GrokscanError(Exception):
    """A problem with what the user gave grokscan: a file, an option, an array."""


class FileFormatError(GrokscanError):
    """A file that is missing, not HDF5, truncated, foreign, or of an unknown format version."""


class TrainingDiverged(GrokscanError):
    """The loss became NaN or inf; the checkpoints written so far are kept."""
