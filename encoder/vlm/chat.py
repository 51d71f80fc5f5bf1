"""The checkpoint's own chat template around the video: the text before and after it in one user turn.

A chat model reads its input as the turns it was tuned on; Qwen-VL checkpoints ship the template as
``chat_template.jinja``, ``chat_template.json`` (the processor's) or inside ``tokenizer_config.json``. The
template is rendered once for a user turn holding the prompt and one video, with the assistant's turn opened
(``add_generation_prompt``), and split at the video placeholder it emits
(``<|vision_start|><|video_pad|><|vision_end|>``): the read-out inserts the frames (and Qwen3-VL's per-patch
timestamps) there itself. A checkpoint without a template gets the ChatML turn every Qwen model uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sv6d.errors import ConfigError

VIDEO_PLACEHOLDER = "<|vision_start|><|video_pad|><|vision_end|>"
_PROMPT_MARK = "\u2063SV6D-PROMPT\u2063"  # invisible separators: no real prompt contains this
CHATML_FALLBACK = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for c in message['content'] %}{% if c['type'] == 'video' %}"
    "<|vision_start|><|video_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def load_chat_template(checkpoint: Path, tokenizer: Any) -> tuple[str, str]:
    """(template, where it came from): the tokenizer's, else ``chat_template.jinja`` / ``.json`` in the
    folder, else the ChatML fallback."""
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, str) and own.strip():
        return own, "tokenizer"
    jinja = checkpoint / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(), jinja.name
    js = checkpoint / "chat_template.json"
    if js.is_file():
        try:
            text = json.loads(js.read_text()).get("chat_template")
        except (json.JSONDecodeError, AttributeError):
            raise ConfigError(f"{js}: not a JSON object with a 'chat_template' string") from None
        if isinstance(text, str) and text.strip():
            return text, js.name
        raise ConfigError(f"{js}: no 'chat_template' string in it")
    return CHATML_FALLBACK, "chatml-fallback"


@dataclass(frozen=True)
class VideoTurn:
    """The rendered text before the video (system turn, user turn opening, prompt) and after it (the user
    turn's end and the assistant's opening), with ``{prompt}`` standing where the prompt goes."""

    before: str
    after: str
    source: str

    def render(self, prompt: str) -> tuple[str, str]:
        return self.before.replace(_PROMPT_MARK, prompt), self.after.replace(_PROMPT_MARK, prompt)

    def key(self) -> dict[str, str]:
        return {"before": self.before, "after": self.after}


def video_turn(checkpoint: Path, tokenizer: Any) -> VideoTurn:
    """Render the checkpoint's template for ``[prompt, video]`` in one user turn and split it at the video."""
    template, source = load_chat_template(checkpoint, tokenizer)
    messages = [{"role": "user", "content": [{"type": "text", "text": _PROMPT_MARK}, {"type": "video"}]}]
    try:
        text = tokenizer.apply_chat_template(
            messages, chat_template=template, tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:  # a broken template is the checkpoint's problem: say which file
        raise ConfigError(
            f"VLM checkpoint {checkpoint}: its chat template ({source}) fails to render ({exc})"
        ) from None
    if text.count(VIDEO_PLACEHOLDER) != 1 or _PROMPT_MARK not in text:
        raise ConfigError(
            f"VLM checkpoint {checkpoint}: its chat template ({source}) does not render one video as "
            f"{VIDEO_PLACEHOLDER} with the prompt beside it"
        )
    before, after = text.split(VIDEO_PLACEHOLDER)
    return VideoTurn(before, after, source)
