"""Typed errors. Each carries a message meant for the user: it names the input and the problem."""

from __future__ import annotations

from pathlib import Path


class SV6DError(Exception):
    """Base class of every error this project raises on purpose (the CLI prints these without a traceback)."""


class VideoInputError(SV6DError):
    """A video file that cannot be used: missing, unreadable, not a video, too short, ..."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Worker processes send this error back to the parent: it must pickle with both arguments.
        return (type(self), (self.path, self.problem))


class SchemaVersionError(SV6DError):
    """Stored data written by a schema version this code cannot read."""


class VocabularyError(SV6DError, ValueError):
    """A tag label or evidence that does not match the controlled vocabulary."""


class ConfigError(SV6DError, ValueError):
    """Conflicting or invalid configuration."""


class NotFoundError(SV6DError):
    """A stored object (video id, job id, ...) that does not exist."""


class ConflictError(SV6DError):
    """A write that would replace a different stored object (a video id already in use, ...)."""
