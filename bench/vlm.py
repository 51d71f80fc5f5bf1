"""Benchmark of the VLM backbone's forward pass: videos/s, visual tokens/s, peak memory, share of bf16 peak.

On a GPU it builds a random-weight model with the real size of an 8B Qwen-VL-family model (a Qwen3-VL-8B
shaped config written below: same compute as the trained one) and encodes batches of 16- and 64-frame
clips at 448 px. On CPU it uses the tiny model to prove the code path (its numbers mean nothing).

    .venv/bin/python bench/vlm.py [--json] [--batch 4] [--repeats 3] [--frames 16 64]

FLOPs are counted from the config: 2 × params × tokens for every linear layer of the vision tower and the
language model, plus attention (4 × seq² × hidden per layer for the LLM, per-frame windows for the tower).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Dense bf16 tensor-core peak (TFLOP/s, no sparsity) by device name fragment.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}


def big_qwen3_vl_config():  # type: ignore[no-untyped-def]
    """Qwen3-VL-8B-shaped config: 36 LLM layers, hidden 4096, 27-layer 1152-wide vision tower."""
    from transformers import Qwen3VLConfig

    text = {
        "vocab_size": 151936,
        "hidden_size": 4096,
        "intermediate_size": 12288,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "max_position_embeddings": 262144,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [24, 20, 20],
            "mrope_interleaved": True,
        },
    }
    vision = {
        "depth": 27,
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_heads": 16,
        "out_hidden_size": 4096,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [8, 16, 24],
    }
    return Qwen3VLConfig(text_config=text, vision_config=vision)


def build_checkpoint(out: Path, gpu: bool) -> Path:
    if not gpu:
        from encoder.vlm.tiny import build_tiny_checkpoint

        return build_tiny_checkpoint(out, "qwen3_vl")
    import torch
    from transformers import AutoModelForImageTextToText

    from encoder.vlm.tiny import build_tokenizer, preprocessor_config

    ids = build_tokenizer(out)
    cfg = big_qwen3_vl_config()
    cfg.video_token_id, cfg.image_token_id = ids["<|video_pad|>"], ids["<|image_pad|>"]
    cfg.vision_start_token_id, cfg.vision_end_token_id = ids["<|vision_start|>"], ids["<|vision_end|>"]
    with torch.device("cuda"):
        model = AutoModelForImageTextToText.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(out)
    pre = preprocessor_config("qwen3_vl")
    pre["max_pixels"] = 64 * 448 * 448
    (out / "preprocessor_config.json").write_text(json.dumps(pre))
    del model
    torch.cuda.empty_cache()
    return out


def forward_flops(cfg, num_frames: int, tokens: int, grid: tuple[int, int, int]) -> float:  # type: ignore[no-untyped-def]
    t, gh, gw = grid
    v = cfg.vision_config
    patches = t * gh * gw
    per_frame = gh * gw
    vis_linear = v.depth * (4 * v.hidden_size**2 + 2 * v.hidden_size * v.intermediate_size)
    vis = 2 * patches * vis_linear + v.depth * 4 * t * per_frame**2 * v.hidden_size
    x = cfg.text_config
    kv = x.num_key_value_heads * x.head_dim
    llm_linear = x.num_hidden_layers * (
        2 * x.hidden_size * x.num_attention_heads * x.head_dim
        + 2 * x.hidden_size * kv
        + 3 * x.hidden_size * x.intermediate_size
    )
    llm = (
        2 * tokens * llm_linear + x.num_hidden_layers * 4 * tokens**2 * x.num_attention_heads * x.head_dim / 2
    )
    return float(vis + llm)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, nargs="+", default=[16, 64])
    args = ap.parse_args()
    import torch

    from encoder.types import DecodedVideo, VideoInfo
    from encoder.vlm.backbone import HAS_CUDA, VLMBackbone

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = build_checkpoint(Path(tmp) / "model", HAS_CUDA)
        bb = VLMBackbone(
            ckpt, fps=2.0, max_frames=max(args.frames), max_pixels=448 * 448, batch_size=args.batch
        )
        device = torch.cuda.get_device_name() if HAS_CUDA else "cpu (tiny model: code path only)"
        peak_tflops = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in device), None)
        rng = np.random.default_rng(0)
        for n in args.frames:
            frames = rng.integers(0, 255, (n, 448, 448, 3), dtype=np.uint8)
            times = np.arange(n) / 2.0
            info = VideoInfo("bench.mp4", n / 2.0, 2.0, 448, 448, 0, "raw", False)
            video = DecodedVideo(info, frames, times, frames[:, ::8, ::8], times)
            items = [(video, [], (0.0, 3.0), None)] * args.batch
            prepared = [bb._prepare(video, [], (0.0, 3.0), None)]
            lay = prepared[0].layout
            visual = sum(b - a for a, b in lay.patch_spans)
            bb.encode_batch(items)  # warm-up
            if HAS_CUDA:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                bb.encode_batch(items)
            if HAS_CUDA:
                torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / args.repeats
            flops = (
                forward_flops(bb.model.config, n, len(lay.input_ids), prepared[0].patched.grid_thw)
                * args.batch
            )
            share = flops / dt / (peak_tflops * 1e12) if peak_tflops and HAS_CUDA else None
            rows.append(
                {
                    "frames": n,
                    "batch": args.batch,
                    "videos_per_s": args.batch / dt,
                    "visual_tokens_per_s": visual * args.batch / dt,
                    "seq_len": len(lay.input_ids),
                    "peak_gpu_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if HAS_CUDA else None,
                    "bf16_peak_share": share,
                    "device": device,
                }
            )
    print(
        f"{'frames':>6} {'batch':>5} {'videos/s':>9} {'vis tok/s':>11} {'seq':>6} {'peak GB':>8}"
        f" {'bf16 share':>10}"
    )
    for r in rows:
        mem = f"{r['peak_gpu_mem_gb']:.1f}" if r["peak_gpu_mem_gb"] else "-"
        share = f"{r['bf16_peak_share']:.1%}" if r["bf16_peak_share"] else "-"
        print(
            f"{r['frames']:>6} {r['batch']:>5} {r['videos_per_s']:>9.2f} {r['visual_tokens_per_s']:>11.0f} "
            f"{r['seq_len']:>6} {mem:>8} {share:>10}"
        )
    if args.json:
        first = rows[0]
        print(
            json.dumps(
                {
                    "videos_per_s": first["videos_per_s"],
                    "bf16_peak_share": first["bf16_peak_share"],
                    "device": first["device"],
                    "runs": rows,
                }
            )
        )


if __name__ == "__main__":
    main()
