"""Path ingest safety: a requested path must resolve, through every symlink, to a file under a media root."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from sv6d.errors import VideoInputError


class PathRefused(VideoInputError):
    """A path outside the media roots (``..``, an absolute path elsewhere, a symlink that escapes)."""


def resolve_media_path(requested: str, roots: list[Path]) -> Path:
    """The real file ``requested`` names, or PathRefused saying why.

    Relative paths are taken against each root in turn; ``..`` components are refused outright (even when
    they would stay inside a root) so that a request can never walk the tree; the resolved real path (all
    symlinks followed) must lie inside the resolved root."""
    if not roots:
        raise PathRefused(
            requested, "path ingest is disabled: no media roots are configured (SV6D_MEDIA_ROOTS)"
        )
    if "\x00" in requested:
        raise PathRefused(requested.replace("\x00", "\\0"), "path contains a NUL byte")
    parts = PurePosixPath(requested).parts
    if ".." in parts:
        raise PathRefused(requested, "path may not contain '..'")
    candidate = Path(requested)
    real_roots = [r.resolve() for r in roots]
    tries = [candidate] if candidate.is_absolute() else [r / candidate for r in real_roots]
    for path in tries:
        real = path.resolve()
        inside = next((r for r in real_roots if real.is_relative_to(r)), None)
        if candidate.is_absolute() and inside is None:
            raise PathRefused(requested, "path lies outside the configured media roots")
        if inside is None:
            # A relative path that resolves elsewhere went through a symlink pointing out of the root.
            if path.exists():
                raise PathRefused(requested, "path resolves (through a symlink) outside the media roots")
            continue
        if real.is_file():
            return real
    raise PathRefused(requested, "no such file under the media roots")


def public_source(source: str, media_dir: Path, roots: list[Path]) -> str:
    """What a response may say about a stored video's source, without the server's file layout.

    An upload is ``"upload"``; a file under a media root is its path relative to that root (what a client
    sends to ingest it); a URL stays as it is; any other path is reduced to its file name."""
    if "://" in source:
        return source
    path = Path(source)
    if not path.is_absolute():
        return source
    if path.parent == media_dir or path.parent.resolve() == media_dir.resolve():
        return "upload"
    for root in roots:
        for base in (root, root.resolve()):
            if path.is_relative_to(base):
                return path.relative_to(base).as_posix()
    return path.name


def check_video(path: Path, shown: str, max_duration_s: float) -> float:
    """The duration of the video at ``path``, or VideoInputError under the name ``shown`` (never the
    server's path) when it is not a decodable video or is longer than ``max_duration_s``."""
    from encoder.decode import probe

    try:
        duration = float(probe(path).duration_s)
    except VideoInputError as exc:
        raise VideoInputError(shown, exc.problem.replace(str(path), shown)) from None
    if duration > max_duration_s:
        raise VideoInputError(shown, f"duration {duration:.1f} s exceeds the limit of {max_duration_s:.0f} s")
    return duration


def stored_media_path(source: str, allowed_roots: list[Path]) -> Path:
    """The real file of a stored video's ``source``, only when it lies under ``allowed_roots`` (the
    service's upload folder and the media roots): a record's source is data, not a licence to serve a file."""
    from sv6d.errors import NotFoundError

    path = Path(source)
    real = path.resolve() if path.is_absolute() else None
    if real is None or not real.is_file() or not any(real.is_relative_to(r.resolve()) for r in allowed_roots):
        raise NotFoundError(f"the media of this video is not available ({path.name or source})")
    return real


def media_signature(secret: bytes, video_id: str, expires: int) -> str:
    """HMAC of (video, expiry): a media link opens one video until ``expires`` (a <video> sends no header)."""
    import hashlib
    import hmac

    return hmac.new(secret, f"{video_id}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]
