"""Exceptions that carry a one-line message meant for the user (CLI prints it, GUI shows it)."""


class PfesError(Exception):
    """Base class: anything the user can act on. The message is shown as is."""


class ProjectError(PfesError):
    """The project folder or project.h5 is missing, corrupt, locked or from a newer version."""


class ProjectLockedError(ProjectError):
    """Another live process holds the project's lock."""


class LabelError(PfesError):
    """A label edit or a label file is invalid."""


class VideoError(PfesError):
    """A video is missing, unreadable, empty or truncated."""


class NoFaceError(VideoError):
    """No face was found in any frame of a video."""


class FeatureError(PfesError):
    """Features are missing or stale for a video."""


class TrainingError(PfesError):
    """Training could not start or failed."""


class CancelledError(PfesError):
    """The user cancelled a long-running job."""
