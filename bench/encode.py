"""Encoder speed against the physical floor: decoding every video frame.

For each real video in ``../shared/data/videos`` (or the folder given), in one run, interleaved round by round
(each round times every stage once, so a load spike on the shared machine hits all stages alike):
- ``floor``: PyAV decoding every video frame (codec frame threads on, as in ``decode``), no pixel conversion,
  no audio. This is the physical floor: cut detection needs every frame, and nothing can be cheaper than
  decoding them;
- ``decode``: our ``encoder.decode.decode`` alone (every-frame thumbnails, analysis frames, audio);
- ``decode+shots``: ``decode`` + ``encoder.transitions.detect_transitions`` (its per-thumbnail statistics
  computed while decoding, as in the encoder);
- ``encode``: the full encoder, ``encoder.pipeline.Encoder().encode_file`` when it imports (else skipped, and
  the headline numbers use decode+shots; the output says which). It measures analysis frames in a worker
  thread while decoding runs (``--no-overlap``: after decoding, to see what the overlap buys).

``decode`` skips the in-loop deblocking filter by default (``DecodeConfig.skip_loop_filter``); the floor does
not: it stays the cost of decoding every frame exactly.

Each stage is timed in wall-clock seconds and in CPU seconds (user + system of this process, all threads).
Best of ``--repeat`` rounds, each independently. The machine is shared: wall ratios swing with the load, CPU
ratios much less, so both are reported side by side.

Prints a table per file and per resolution; with ``--json`` the last line is
``{"realtime_factor", "ratio_to_decode", "files": [...], ...}``: ``realtime_factor`` = seconds of video per
wall-clock second of the measured pipeline; ``ratio_to_decode`` = its wall time over the floor's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

DEFAULT_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov"}
FLOOR_TEXT = "floor = PyAV decoding every video frame (frame threads on), no conversion, no audio"
STAGES = ("floor", "decode", "decode_shots", "encode")


def decode_floor(path: Path) -> int:
    """Decode every video frame with PyAV, threads as ``encoder.decode`` sets them, nothing else."""
    import av

    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _frame in container.decode(stream):
            n += 1
    return n


def our_decode(path: Path) -> Any:
    from encoder.decode import DecodeConfig, decode

    return decode(path, DecodeConfig(min_duration_s=0.0))


def decode_and_shots(path: Path) -> int:
    """``decode`` + the transition detector, its per-thumbnail statistics computed beside decoding as the
    encoder does."""
    from encoder.decode import DecodeConfig, decode
    from encoder.transitions import ThumbStatsStream, detect_transitions

    stream = ThumbStatsStream(background=True)
    decoded = decode(path, DecodeConfig(min_duration_s=0.0), on_thumbs=stream.add)
    return len(detect_transitions(decoded, stats=stream.result()))


def make_full_encoder(overlap: bool = True) -> Callable[[Path, float], Any] | None:
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

            encoders[hook] = Encoder(
                hook_s=hook, decode_config=DecodeConfig(min_duration_s=0.0), overlap=overlap
            )
        return encoders[hook].encode_file(path)

    return encode


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_rounds(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, tuple[float, float]]:
    """Best (wall, cpu) seconds per stage over ``repeat`` rounds; each round runs every stage once."""
    best = {k: (float("inf"), float("inf")) for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            w, c = time.perf_counter(), _cpu_s()
            fn()
            w, c = time.perf_counter() - w, _cpu_s() - c
            best[name] = (min(best[name][0], w), min(best[name][1], c))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="?", type=Path, default=DEFAULT_VIDEOS)
    ap.add_argument("--repeat", type=int, default=2, help="rounds per file; the best of each stage counts")
    ap.add_argument(
        "--decode-only", action="store_true", help="time decode+shots even if the encoder imports"
    )
    ap.add_argument(
        "--no-overlap", action="store_true", help="measure analysis frames after decoding, not beside it"
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
    encode = None if args.decode_only else make_full_encoder(overlap=not args.no_overlap)
    measured = "encoder.pipeline.Encoder.encode_file" if encode else "decode()+detect_transitions()"
    if encode is not None and args.no_overlap:
        measured += " (no overlap)"
    sys.stderr.write(f"measuring: {measured}; {FLOOR_TEXT}\n")

    if paths:  # warm-up: model loading and imports are not per-video costs
        decode_and_shots(paths[0])
        if encode is not None:
            encode(paths[0], probe(paths[0]).duration_s)

    files = []
    for p in paths:
        info = probe(p)
        fns: dict[str, Callable[[], Any]] = {
            "floor": partial(decode_floor, p),
            "decode": partial(our_decode, p),
            "decode_shots": partial(decode_and_shots, p),
        }
        error = None
        if encode is not None:

            def run_encode(p: Path = p, d: float = info.duration_s) -> None:
                nonlocal error
                if error is None:
                    try:
                        encode(p, d)
                    except Exception as exc:  # a benchmark reports a failing file and goes on
                        error = f"{type(exc).__name__}: {exc}"

            fns["encode"] = run_encode
        best = time_rounds(fns, args.repeat)
        if error is not None:
            best.pop("encode", None)
        top = "encode" if "encode" in best else "decode_shots"
        wall, cpu = best[top]
        floor_w, floor_c = best["floor"]
        files.append(
            {
                "file": p.name,
                "width": info.width,
                "height": info.height,
                "duration_s": round(info.duration_s, 3),
                **{f"{k}_s": round(v[0], 4) for k, v in best.items()},
                **{f"{k}_cpu_s": round(v[1], 4) for k, v in best.items()},
                "measured": top,
                "realtime_factor": round(info.duration_s / wall, 2),
                "ratio_to_decode": round(wall / floor_w, 3),
                "cpu_ratio_to_decode": round(cpu / floor_c, 3),
                "decode_ratio_to_decode": round(best["decode"][0] / floor_w, 3),
                "decode_cpu_ratio_to_decode": round(best["decode"][1] / floor_c, 3),
                **({"error": error} if error else {}),
            }
        )
        sys.stderr.write(f"  {p.name}: {top} {wall:.3f} s, floor {floor_w:.3f} s\n")

    summary = {
        "measured": measured,
        "floor": FLOOR_TEXT,
        **_ratios(files),
        "by_resolution": {label: _ratios(fs) for label, fs in _by_resolution(files).items()},
        "files": files,
    }
    _print_table(files, summary)
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def _ratios(files: list[dict]) -> dict[str, float]:
    """Totals over ``files``: each stage's summed time over the summed floor (wall and CPU)."""
    if not files:
        return {"realtime_factor": 0.0, "ratio_to_decode": 0.0}

    floor_w = sum(f["floor_s"] for f in files)
    floor_c = sum(f["floor_cpu_s"] for f in files)
    wall = sum(f[f"{f['measured']}_s"] for f in files)
    cpu = sum(f[f"{f['measured']}_cpu_s"] for f in files)
    return {
        "realtime_factor": round(sum(f["duration_s"] for f in files) / wall, 2),
        "ratio_to_decode": round(wall / floor_w, 3),
        "cpu_ratio_to_decode": round(cpu / floor_c, 3),
        "decode_ratio_to_decode": round(sum(f["decode_s"] for f in files) / floor_w, 3),
        "decode_cpu_ratio_to_decode": round(sum(f["decode_cpu_s"] for f in files) / floor_c, 3),
        "decode_shots_ratio_to_decode": round(sum(f["decode_shots_s"] for f in files) / floor_w, 3),
    }


def _by_resolution(files: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for f in files:
        short = min(f["width"], f["height"])
        label = (
            "1080p+" if short >= 1000 else "720p" if short >= 700 else "480-576p" if short >= 450 else "<480p"
        )
        groups.setdefault(label, []).append(f)
    return groups


def _print_table(files: list[dict], summary: dict) -> None:
    head = (
        f"{'file':26s} {'size':>10s} {'dur s':>5s} | {'floor':>6s} {'decode':>6s} {'+shots':>6s} "
        f"{'encode':>6s} | {'dec/floor':>9s} {'enc/floor':>9s} | {'cpu dec/fl':>10s} {'cpu enc/fl':>10s} "
        f"| {'x realtime':>10s}"
    )
    lines = [
        f"measured: {summary['measured']}",
        summary["floor"],
        "seconds: wall, best of rounds; x/floor: wall and CPU (user+sys, all threads) ratios to the floor",
        head,
    ]
    for f in files:
        enc = f"{f['encode_s']:.3f}" if "encode_s" in f else "-"
        top = f["measured"]
        lines.append(
            f"{f['file']:26s} {f['width']:>4d}x{f['height']:<5d} {f['duration_s']:5.1f} | "
            f"{f['floor_s']:6.3f} {f['decode_s']:6.3f} {f['decode_shots_s']:6.3f} {enc:>6s} | "
            f"{f['decode_ratio_to_decode']:9.2f} {f['ratio_to_decode']:9.2f} | "
            f"{f['decode_cpu_ratio_to_decode']:10.2f} {f[f'{top}_cpu_s'] / f['floor_cpu_s']:10.2f} | "
            f"{f['realtime_factor']:10.1f}" + (f"  ({f['error']})" if "error" in f else "")
        )
    name = "encode" if summary["measured"].startswith("encoder.pipeline") else "decode+shots"
    for label, r in [*summary["by_resolution"].items(), ("ALL", summary)]:
        lines.append(
            f"  {label:9s} realtime x{r['realtime_factor']:.1f} | {name}/floor: wall "
            f"{r['ratio_to_decode']:.2f} cpu {r['cpu_ratio_to_decode']:.2f} | decode()/floor: "
            f"wall {r['decode_ratio_to_decode']:.2f} cpu {r['decode_cpu_ratio_to_decode']:.2f} | "
            f"decode+shots/floor: wall {r['decode_shots_ratio_to_decode']:.2f}"
        )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
