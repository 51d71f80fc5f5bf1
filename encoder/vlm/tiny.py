"""Tiny random-weight Qwen-VL-family checkpoints, built from a config, for tests and the CPU benchmark.

The checkpoints are ordinary ``save_pretrained`` folders (config, safetensors weights, a byte-level BPE
tokenizer and a ``preprocessor_config.json``), so they go through exactly the same loading code as a real
checkpoint such as Leum-VL-8B. The tokenizer is trained offline with ``tokenizers`` on a few strings plus the
Qwen special tokens, because no hub tokenizer can be downloaded here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

Family = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
FAMILIES: tuple[str, ...] = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CORPUS = (
    "Describe the structure of this video: subject, aesthetics, camera, editing, narrative, dissemination.",
    "The subject of the video is. The aesthetics of the video are. The camera movement is.",
    "The editing rhythm is. The narrative arc is. The dissemination style is.",
    'Answer with JSON: {"tags": [{"label": "hard_cut", "start_s": 1.0, "end_s": 1.2}]}',
    "0123456789 seconds <> fast cuts text overlay hook pan tilt zoom static fade loop",
)


def build_tokenizer(out_dir: Path, vocab_size: int = 400) -> dict[str, int]:
    """Train a byte-level BPE offline and save it as a fast tokenizer; returns the special-token ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    fast.save_pretrained(out_dir)
    return {t: int(tok.token_to_id(t) or 0) for t in SPECIAL_TOKENS}


def tiny_config(family: Family, ids: dict[str, int], vocab_size: int):  # type: ignore[no-untyped-def]
    """A few-kilobyte config of ``family``: 2 text layers, hidden 64, a 2-layer vision tower."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    tokens: dict[str, Any] = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    # head_dim = 64 / 4 = 16, so mrope_section must sum to 8 (half the head dim).
    text: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
    }
    if family == "qwen2_vl":
        vision: dict[str, Any] = {
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
        }
        return Qwen2VLConfig(text_config=text, vision_config=vision, **tokens)
    if family == "qwen2_5_vl":
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
            "window_size": 56,
            "tokens_per_second": 2,
        }
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
    if family == "qwen3_vl":
        text = {**text, "head_dim": 16}
        text["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [2, 3, 3],
            "mrope_interleaved": True,
        }
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        }
        return Qwen3VLConfig(text_config=text, vision_config=vision, **tokens)
    raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")


def preprocessor_config(family: Family) -> dict:
    """The ``preprocessor_config.json`` a real checkpoint of ``family`` ships (CLIP stats for Qwen2/2.5)."""
    if family == "qwen3_vl":
        mean, std, patch = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 16
    else:
        mean = [0.48145466, 0.4578275, 0.40821073]
        std = [0.26862954, 0.26130258, 0.27577711]
        patch = 14
    return {
        "image_mean": mean,
        "image_std": std,
        "patch_size": patch,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "min_pixels": 4 * (patch * 2) ** 2,
        "max_pixels": 256 * (patch * 2) ** 2,
    }


# Qwen2-VL-Instruct's chat template (Qwen2.5-VL ships the same); Qwen3-VL's differs in having no default
# system turn. Written to ``chat_template.json``, where real checkpoints keep it for the processor.
QWEN2_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN3_CHAT_TEMPLATE = QWEN2_CHAT_TEMPLATE.replace(
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}",
    "",
)
SHARD_SIZE = "200KB"  # several shards even for a tiny model, as an 8B checkpoint has


def build_tiny_checkpoint(out_dir: str | Path, family: Family = "qwen2_vl", seed: int = 0) -> Path:
    """Write a tiny random checkpoint of ``family`` to ``out_dir`` (seeded, so two builds are identical)
    with a real checkpoint's file layout: sharded bf16 safetensors with their index, tokenizer files, the
    chat template, and the image and video preprocessor configs."""
    import torch
    from transformers import AutoModelForImageTextToText

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = build_tokenizer(out)
    from transformers import AutoTokenizer

    vocab_size = len(AutoTokenizer.from_pretrained(out, local_files_only=True))
    config = tiny_config(family, ids, vocab_size)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config).to(torch.bfloat16)
    model.save_pretrained(out, max_shard_size=SHARD_SIZE)
    pre = preprocessor_config(family)
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    (out / "video_preprocessor_config.json").write_text(json.dumps(pre, indent=2))
    template = QWEN3_CHAT_TEMPLATE if family == "qwen3_vl" else QWEN2_CHAT_TEMPLATE
    (out / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2))
    return out
