"""Encoder speed against the physical floor: decoding every frame.

For each real video in ``../shared/data/videos`` (or the folder given), in one run and interleaved per file:
- ``decode``: PyAV decoding every video frame (codec threads on, no conversion): the floor, since cut
  detection needs every frame;
- ``decode_rgb``: the same, converting every frame to a full-size RGB array (what "decode to frames" costs a
  consumer that does not shrink in C);
- ``decode+shots``: our ``encoder.decode.decode`` + ``encoder.shots.detect_transitions``;
- ``encode``: the full encoder, ``encoder.pipeline.Encoder().encode_file`` when it imports (else skipped, and
  the headline numbers use decode+shots; the output says which).

Prints a table per file and per resolution; with ``--json`` the last line is
``{"realtime_factor", "ratio_to_decode", "measured", "files": [{"file", "width", "height", "duration_s",
"realtime_factor", "ratio_to_decode", ...}]}``. ``realtime_factor`` = seconds of video per wall-clock second
of the measured pipeline; ``ratio_to_decode`` = its time over the decode-only time. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov"}


def decode_only(path: Path, to_rgb: bool = False) -> int:
    """Decode every video frame with PyAV (threads on); optionally convert each to a full-size RGB array."""
    import av

    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if to_rgb:
                frame.to_ndarray(format="rgb24")
            n += 1
    return n


def decode_and_shots(path: Path) -> int:
    from encoder.decode import DecodeConfig, decode
    from encoder.shots import detect_transitions

    decoded = decode(path, DecodeConfig(min_duration_s=0.0))
    return len(detect_transitions(decoded))


def make_full_encoder() -> Callable[[Path, float], Any] | None:
    """``encode(path, duration)`` through the lead's Encoder, or None when it does not import."""
    try:
        from encoder.pipeline import Encoder
    except ImportError as exc:
        sys.stderr.write(f"full encoder not importable ({exc}); timing decode+shots instead\n")
        return None
    encoders: dict[float, Any] = {}

    def encode(path: Path, duration: float) -> Any:
        # Clips shorter than the default 3 s hook (fire2.mp4 is 2.4 s) get a hook that fits them.
        hook = 3.0 if duration >= 3.0 else round(max(duration - 0.2, 0.5), 1)
        if hook not in encoders:
            from encoder.decode import DecodeConfig

            encoders[hook] = Encoder(hook_s=hook, decode_config=DecodeConfig(min_duration_s=0.0))
        return encoders[hook].encode_file(path)

    return encode


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="?", type=Path, default=DEFAULT_VIDEOS)
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best counts")
    ap.add_argument(
        "--decode-only", action="store_true", help="time decode+shots even if the encoder imports"
    )
    ap.add_argument("--json", action="store_true", help="print the JSON summary as the last line")
    args = ap.parse_args(argv)

    from encoder.decode import probe

    if not args.videos.is_dir():
        sys.stderr.write(
            f"error: {args.videos}: no such folder (the real videos live in ../shared/data/videos)\n"
        )
        return 2
    paths = sorted(p for p in args.videos.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    encode = None if args.decode_only else make_full_encoder()
    measured = "encoder.pipeline.Encoder.encode_file" if encode else "decode()+detect_transitions()"
    sys.stderr.write(f"measuring: {measured}\n")

    if encode is not None and paths:  # warm-up: model loading and imports are not per-video costs
        encode(paths[0], probe(paths[0]).duration_s)
    else:
        decode_and_shots(paths[0]) if paths else None

    files = []
    for p in paths:
        info = probe(p)
        t_dec = best_time(lambda p=p: decode_only(p), args.repeat)
        t_rgb = best_time(lambda p=p: decode_only(p, to_rgb=True), args.repeat)
        t_shots = best_time(lambda p=p: decode_and_shots(p), args.repeat)
        t_enc = None
        error = None
        if encode is not None:
            try:
                t_enc = best_time(lambda p=p, d=info.duration_s: encode(p, d), args.repeat)
            except Exception as exc:  # a benchmark reports a failing file and goes on
                error = f"{type(exc).__name__}: {exc}"
        t = t_enc if t_enc is not None else t_shots
        files.append(
            {
                "file": p.name,
                "width": info.width,
                "height": info.height,
                "duration_s": round(info.duration_s, 3),
                "decode_s": round(t_dec, 4),
                "decode_rgb_s": round(t_rgb, 4),
                "decode_shots_s": round(t_shots, 4),
                "encode_s": None if t_enc is None else round(t_enc, 4),
                "realtime_factor": round(info.duration_s / t, 2),
                "ratio_to_decode": round(t / t_dec, 3),
                "decode_shots_ratio_to_decode": round(t_shots / t_dec, 3),
                **({"error": error} if error else {}),
            }
        )
        sys.stderr.write(f"  {p.name}: {t:.3f} s (decode {t_dec:.3f} s)\n")

    def measured_s(f: dict) -> float:
        return f["encode_s"] if f["encode_s"] is not None else f["decode_shots_s"]

    total_video = sum(f["duration_s"] for f in files)
    total_t = sum(measured_s(f) for f in files)
    total_dec = sum(f["decode_s"] for f in files)
    summary = {
        "measured": measured,
        "realtime_factor": round(total_video / total_t, 2) if total_t else 0.0,
        "ratio_to_decode": round(total_t / total_dec, 3) if total_dec else 0.0,
        "decode_shots_ratio_to_decode": round(sum(f["decode_shots_s"] for f in files) / total_dec, 3)
        if total_dec
        else 0.0,
        "by_resolution": _by_resolution(files, measured_s),
        "files": files,
    }
    _print_table(files, summary)
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def _by_resolution(files: list[dict], measured_s: Callable[[dict], float]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict]] = {}
    for f in files:
        short = min(f["width"], f["height"])
        label = (
            "1080p+" if short >= 1000 else "720p" if short >= 700 else "480-576p" if short >= 450 else "<480p"
        )
        groups.setdefault(label, []).append(f)
    out = {}
    for label, fs in groups.items():
        t = sum(measured_s(f) for f in fs)
        out[label] = {
            "realtime_factor": round(sum(f["duration_s"] for f in fs) / t, 2),
            "ratio_to_decode": round(t / sum(f["decode_s"] for f in fs), 3),
        }
    return out


def _print_table(files: list[dict], summary: dict) -> None:
    head = f"{'file':28s} {'size':>10s} {'dur s':>6s} {'decode':>7s} {'dec rgb':>7s} {'dec+shots':>9s} "
    head += f"{'encode':>7s} {'x realtime':>10s} {'x decode':>8s}"
    lines = [f"measured: {summary['measured']}", head]
    for f in files:
        enc = f"{f['encode_s']:.3f}" if f["encode_s"] is not None else "-"
        lines.append(
            f"{f['file']:28s} {f['width']:>4d}x{f['height']:<5d} {f['duration_s']:6.1f} {f['decode_s']:7.3f} "
            f"{f['decode_rgb_s']:7.3f} {f['decode_shots_s']:9.3f} {enc:>7s} {f['realtime_factor']:10.1f} "
            f"{f['ratio_to_decode']:8.2f}" + (f"  ({f['error']})" if "error" in f else "")
        )
    for label, r in summary["by_resolution"].items():
        lines.append(
            f"  {label:10s} realtime x{r['realtime_factor']:.1f}, {r['ratio_to_decode']:.2f} x decode"
        )
    lines.append(
        f"ALL: realtime x{summary['realtime_factor']:.1f}, {summary['ratio_to_decode']:.2f} x decode-only "
        f"(decode+shots alone: {summary['decode_shots_ratio_to_decode']:.2f} x)"
    )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
