"""Narrative evidence: an energy curve over time and what it says (cold open, peak, build-up, reveal, loop).

Energy at time t is the weighted mean of three components, each mapped to [0, 1] with fixed constants (not
per-video normalisation, so energies compare across videos):
  motion   = min(1, camera speed (frame fractions / s, translation + |zoom|) / ENERGY_MOTION_FULL)
  cuts     = min(1, cuts within +-ENERGY_CUT_HALF_S of t per second / ENERGY_CUTS_FULL)
  loudness = clip((dBFS - ENERGY_DB_FLOOR) / -ENERGY_DB_FLOOR, 0, 1)
"""

from __future__ import annotations

import numpy as np

ENERGY_HZ = 2.0  # samples per second of the energy curve (stored in the record)
ENERGY_MOTION_FULL = 0.5  # camera speed (frame/s) that counts as full motion energy
ENERGY_CUTS_FULL = 2.0  # cuts per second that count as full cut energy
ENERGY_CUT_HALF_S = 1.0  # half-width of the window that counts cuts around t
ENERGY_DB_FLOOR = -60.0  # dBFS mapped to zero loudness energy
ENERGY_WEIGHTS = (0.4, 0.4, 0.2)  # motion, cuts, loudness: structure first, sound as support


def energy_times(duration_s: float) -> np.ndarray:
    """The curve's sample times: 0, 1/ENERGY_HZ, ... up to the duration."""
    n = max(1, int(np.floor(duration_s * ENERGY_HZ)) + 1)
    return np.arange(n) / ENERGY_HZ


def energy_curve(
    duration_s: float,
    motion_t: np.ndarray,
    motion_speed: np.ndarray,
    cut_times: np.ndarray,
    env_times: np.ndarray,
    env_db: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(times, energy) at ENERGY_HZ; ``motion_speed`` per motion step (NaN where unknown) at ``motion_t``."""
    t = energy_times(duration_s)
    ok = np.isfinite(motion_speed)
    if ok.any():
        motion = np.interp(t, motion_t[ok], motion_speed[ok])
    else:
        motion = np.zeros_like(t)
    motion = np.clip(motion / ENERGY_MOTION_FULL, 0.0, 1.0)
    cuts = np.asarray(cut_times, dtype=np.float64)
    if len(cuts):
        near = (np.abs(t[:, None] - cuts[None, :]) <= ENERGY_CUT_HALF_S).sum(axis=1)
        cut_rate = near / (2 * ENERGY_CUT_HALF_S)
    else:
        cut_rate = np.zeros_like(t)
    cut_e = np.clip(cut_rate / ENERGY_CUTS_FULL, 0.0, 1.0)
    if len(env_db):
        # Loudness over the same 1/ENERGY_HZ slot (power mean), so a single click does not read as loud.
        power = 10.0 ** (np.asarray(env_db) / 10.0)
        half = 0.5 / ENERGY_HZ
        db = np.array(
            [
                10
                * np.log10(max(1e-12, float(power[(env_times >= x - half) & (env_times < x + half)].mean())))
                if ((env_times >= x - half) & (env_times < x + half)).any()
                else ENERGY_DB_FLOOR
                for x in t
            ]
        )
        loud = np.clip((db - ENERGY_DB_FLOOR) / -ENERGY_DB_FLOOR, 0.0, 1.0)
    else:
        loud = np.zeros_like(t)
    wm, wc, wl = ENERGY_WEIGHTS
    return t, (wm * motion + wc * cut_e + wl * loud) / (wm + wc + wl)


def window_energy(t: np.ndarray, e: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """Energy samples inside ``[start_s, end_s]`` (at least the nearest sample)."""
    sel = (t >= start_s - 1e-6) & (t <= end_s + 1e-6)
    if not sel.any():
        return e[[int(np.argmin(np.abs(t - start_s)))]] if len(e) else np.zeros(1)
    return e[sel]


def slope_and_r(t: np.ndarray, e: np.ndarray) -> tuple[float, float]:
    """Least-squares slope (energy per second) and Pearson r of energy against time."""
    if len(t) < 3 or float(np.std(e)) < 1e-9:
        return 0.0, 0.0
    slope = float(np.polyfit(t, e, 1)[0])
    r = float(np.corrcoef(t, e)[0, 1])
    return slope, r if np.isfinite(r) else 0.0
