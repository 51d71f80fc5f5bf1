"""Draw a record's timeline: shots, tags as bars per dimension, and the energy curve (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sv6d.dimensions import DIMENSIONS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sv6d.record import SV6DRecord

DIMENSION_COLOURS = {
    "subject": "#4C72B0",
    "aesthetics": "#DD8452",
    "camera": "#55A868",
    "editing": "#C44E52",
    "narrative": "#8172B3",
    "dissemination": "#937860",
}


def timeline_figure(record: SV6DRecord) -> Figure:
    """A figure with three stacked panels: shots, tags per dimension (one lane per label), energy."""
    from matplotlib.figure import Figure

    lanes: list[tuple[str, str]] = []  # (dimension, label) in dimension order
    for dim in DIMENSIONS:
        for label in sorted({t.label for t in record.tags if t.dimension == dim}):
            lanes.append((dim.value, label))
    fig = Figure(figsize=(12, 2.2 + 0.28 * max(len(lanes), 1)), constrained_layout=True)
    ax_shots, ax_tags, ax_energy = fig.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [0.6, max(len(lanes), 1) * 0.35, 1.2]}
    )
    duration = record.duration_s
    for i, seg in enumerate(record.segments):
        ax_shots.axvspan(seg.start_s, seg.end_s, color="#bbbbbb" if i % 2 else "#888888", alpha=0.8)
    ax_shots.axvspan(*record.hook_window, color="#f2c14e", alpha=0.35, label="hook")
    ax_shots.set_yticks([])
    ax_shots.set_ylabel("shots", rotation=0, ha="right", va="center")
    ax_shots.legend(loc="upper right", fontsize=7)
    title = record.title or record.video_id
    ax_shots.set_title(
        f"{title} — {duration:.1f} s, {record.width}x{record.height}, {len(record.segments)} shots"
    )

    lane_index = {lane: i for i, lane in enumerate(lanes)}
    for tag in record.tags:
        y = lane_index[(tag.dimension.value, tag.label)]
        width = max(tag.end_s - tag.start_s, duration / 400)
        ax_tags.barh(
            y,
            width,
            left=tag.start_s,
            height=0.7,
            color=DIMENSION_COLOURS[tag.dimension.value],
            alpha=0.4 + 0.6 * tag.confidence,
        )
    ax_tags.set_yticks(range(len(lanes)), [f"{d}: {label}" for d, label in lanes], fontsize=7)
    ax_tags.set_ylim(-0.6, max(len(lanes), 1) - 0.4)
    ax_tags.invert_yaxis()
    ax_tags.grid(axis="x", alpha=0.3)

    if record.energy and record.energy_hz > 0:
        times = [i / record.energy_hz for i in range(len(record.energy))]
        ax_energy.plot(times, record.energy, color="#8172B3")
        ax_energy.fill_between(times, record.energy, alpha=0.2, color="#8172B3")
    ax_energy.set_ylabel("energy", rotation=0, ha="right", va="center")
    ax_energy.set_xlabel("time (s)")
    ax_energy.set_xlim(0, duration)
    return fig


def save_timeline(record: SV6DRecord, out: str | Path) -> Path:
    """Render the timeline to ``out`` (PNG, SVG or PDF by extension)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    timeline_figure(record).savefig(out, dpi=110)
    return out
