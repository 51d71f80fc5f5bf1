"""One plain-English description per opening style, as a user would type it, for text -> hook recall.

Written before any text-search result on the benchmark was looked at, and worded apart from the style
definitions the hook heads' text side is trained on (``render.STYLE_DESCRIPTIONS``): a query that repeated a
training sentence would measure memory, not reading.
"""

from __future__ import annotations

TEXT_QUERIES: dict[str, str] = {
    "jump_cuts": "someone talking with the pauses cut out, the picture jumps every half second",
    "montage": "a quick montage of different moments",
    "caption_hook": "big text on screen in the first seconds",
    "slow_push_in": "slow push in on the subject",
    "pull_out": "the camera slowly zooms out to reveal the scene",
    "whip_pan": "a fast whip pan from one shot to the next",
    "fade_from_black": "starts black and fades in",
    "flash_open": "opens with a white flash",
    "freeze_frame_open": "starts on a frozen still image, then it plays",
    "speed_ramp": "slow motion opening",
    "split_screen": "two clips on screen at once, side by side or picture in picture",
    "punch_in_beat": "the zoom punches in on every beat of the music",
}

# Text that names no structure: a calibrated reading scores these below every real query. The first three
# were written with TEXT_QUERIES; the last three were added when the API's text-match threshold
# (``Settings.text_match_threshold``) was chosen on these two sets.
NONSENSE_QUERIES: tuple[str, ...] = (
    "xyzzy",
    "the quarterly tax report",
    "purple elephant banana",
    "hello world",
    "cats",
    "recipe for lasagna",
)
