"""Benchmark: the VLM backbone as ``sv6d encode --backbone vlm`` runs it, and FAISS at 1M, in one run.

GPU: random-weight models of the real size, built on the GPU from the Qwen2.5-VL-7B and Qwen3-VL-8B configs
below (bf16; random weights cost the same as trained ones), encode real videos at 16 frames and 448 px
through ``VLMBackbone.encode_batch`` (preprocessing, one forward pass per batch, read-out, tags). Reported:
videos/s end to end and for the forward passes alone, tokens per video, and the share of the bf16 dense peak
with FLOPs = 2 × (vision params × patches + language-model params × tokens) (attention's quadratic part and
the embedding lookup not counted). Then FAISS over 1M × 384 vectors (the six 64-d dimensions concatenated;
a low-dimensional latent plus noise, so IVF recall means something): Flat and IVF on faiss-cpu, and on
faiss-gpu when it imports (else an exact torch search on the GPU, labelled so), queries/s and recall@10.
Also the preprocessing against transformers' processors: the PIL image processor always, the torchvision
video processor where torchvision imports.

CPU (``--smoke``): the same code on tiny models (``encoder.vlm.tiny``) and 20k vectors: proves the path.

    python bench/vlm.py --smoke                       # here (2 cores: a few minutes)
    python bench/vlm.py --videos bench_videos --json  # one device call (see below)

Frames are decoded by ``encoder.decode`` (PyAV) as the encoder does; where PyAV is missing (the GPU image)
by OpenCV at the same times and full size. The device machine has torch, transformers, accelerate,
torchvision and OpenCV, not pydantic or FAISS, and ``../shared`` does not travel. Prepared, from the
checkout the device tool sends (ignored folders ``.whl/`` and ``bench_videos/``, under 64 MiB together)::

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
      faiss-cpu==1.15.1
    mkdir -p bench_videos && for v in testvideo fire2 interview_outdoor_s32 chaplin soccer_juggling \
      bw_portrait_captions_cuts kinetics_demo aquarium_crowd; do cp ../shared/data/videos/$v.mp4 \
      bench_videos; done

then one call, carry ``[".whl", "bench_videos"]``, timeout ~540 s::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site && PYTHONUNBUFFERED=1 python3 bench/vlm.py --videos bench_videos \
      --limit 8 --out $OUT/vlm.json

faiss-gpu is not on that image and its wheel (with CUDA libraries) is far over the carry limit: the GPU
search rows then come from an exact torch search on the GPU, labelled so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Dense bf16 tensor-core peak (TFLOP/s, no sparsity) by device name fragment.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
NPROBES = (16, 64)


def qwen2_5_vl_7b_config():  # type: ignore[no-untyped-def]
    """Qwen2.5-VL-7B-Instruct's shapes: 28 LLM layers of 3584, a 32-layer 1280-wide windowed vision tower."""
    from transformers import Qwen2_5_VLConfig

    text = {
        "vocab_size": 152064,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "max_position_embeddings": 128000,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    }
    vision = {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    }
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision)


def qwen3_vl_8b_config():  # type: ignore[no-untyped-def]
    """Qwen3-VL-8B's shapes: 36 LLM layers of 4096, a 27-layer 1152-wide vision tower with deepstack."""
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


REAL = {"qwen2_5_vl": qwen2_5_vl_7b_config, "qwen3_vl": qwen3_vl_8b_config}


def build_backbone(family: str, folder: Path, smoke: bool, options: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A ``VLMBackbone``: the tiny checkpoint on CPU; on GPU a real-size random model built in place, beside a
    folder holding everything else a checkpoint has (config, tokenizer, chat template, preprocessor)."""
    from encoder.vlm.backbone import VLMBackbone
    from encoder.vlm.tiny import (
        QWEN2_CHAT_TEMPLATE,
        QWEN3_CHAT_TEMPLATE,
        build_tiny_checkpoint,
        build_tokenizer,
        preprocessor_config,
    )

    if smoke:
        return VLMBackbone(build_tiny_checkpoint(folder, family), **options)  # type: ignore[arg-type]
    import torch
    from transformers import AutoModelForImageTextToText

    folder.mkdir(parents=True, exist_ok=True)
    ids = build_tokenizer(folder)
    cfg = REAL[family]()
    cfg.video_token_id, cfg.image_token_id = ids["<|video_pad|>"], ids["<|image_pad|>"]
    cfg.vision_start_token_id, cfg.vision_end_token_id = ids["<|vision_start|>"], ids["<|vision_end|>"]
    cfg.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor_config(family)))  # type: ignore[arg-type]
    template = QWEN3_CHAT_TEMPLATE if family == "qwen3_vl" else QWEN2_CHAT_TEMPLATE
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    with torch.device("cuda"):
        model = AutoModelForImageTextToText.from_config(cfg, dtype=torch.bfloat16)
    return VLMBackbone(folder, model=model, **options)


def _cv2_frames(path: Path, fps: float, max_frames: int):  # type: ignore[no-untyped-def]
    """Frames at the encoder's sampling times, full size RGB, decoded by OpenCV (where PyAV is missing)."""
    import cv2

    from encoder.types import DecodedVideo, VideoInfo

    cap = cv2.VideoCapture(str(path))
    native = cap.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    duration = count / native
    step = max(1.0 / fps, duration / max_frames)
    wanted = np.arange(0.0, duration, step)[:max_frames]
    frames, times, i, k = [], [], 0, 0
    while k < len(wanted):
        ok, bgr = cap.read()
        if not ok:
            break
        t = i / native
        if t + 1e-6 >= wanted[k]:
            frames.append(bgr[..., ::-1].copy())
            times.append(t)
            k += 1
        i += 1
    cap.release()
    h, w = frames[0].shape[:2]
    info = VideoInfo(str(path), duration, native, w, h, 0, "cv2", False)
    stack = np.stack(frames)
    return DecodedVideo(info, stack, np.asarray(times), stack[:, ::8, ::8], np.asarray(times))


def load_videos(folder: Path, limit: int, fps: float, max_frames: int) -> tuple[list, str]:
    """Decoded real videos (at most ``limit``) and which decoder read them."""
    from encoder.decode import DecodeConfig

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)[:limit]
    if not paths:
        raise SystemExit(f"no videos in {folder}")
    cfg = DecodeConfig(
        sample_fps=fps, max_frames=max_frames, analysis_max_side=None, audio=False, skip_loop_filter=False
    )
    try:
        import av  # noqa: F401
    except ImportError:
        return [_cv2_frames(p, fps, max_frames) for p in paths], "OpenCV (PyAV missing)"
    from encoder.decode import decode

    return [decode(p, cfg) for p in paths], "encoder.decode (PyAV)"


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def model_params(model: Any) -> tuple[int, int]:
    """(vision tower params, language model params without the embedding table)."""
    inner = model.model
    visual = getattr(inner, "visual", None)
    lm = getattr(inner, "language_model", None)
    embed = getattr(lm, "embed_tokens", None)
    return _params(visual), _params(lm) - _params(embed)


def bench_family(family: str, decoded: list, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import torch

    from encoder.vlm.backbone import VideoItem

    cuda = torch.cuda.is_available() and not args.smoke
    options = {"fps": args.fps, "max_frames": args.frames, "resolution": args.resolution}
    options["batch_size"] = args.batch
    t0 = time.perf_counter()
    bb = build_backbone(family, tmp / family, args.smoke, options)
    build_s = time.perf_counter() - t0
    items = [VideoItem(d, [], [], (0.0, min(3.0, d.info.duration_s))) for d in decoded]
    reps = max(1, -(-args.min_videos // len(items)))
    work = (items * reps)[: max(args.min_videos, len(items))]

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    bb.encode_batch(work[: args.batch])  # warm-up (kernels, allocator)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    bb.encode_batch(work)
    sync()
    full_s = time.perf_counter() - t0
    prepared = [bb._prepare(it.decoded, it.shots, it.hook_window, None) for it in work]
    t0 = time.perf_counter()
    for i in range(0, len(prepared), args.batch):
        bb._forward(prepared[i : i + args.batch])
    sync()
    forward_s = time.perf_counter() - t0
    p_vis, p_llm = model_params(bb.model)
    patches = [int(np.prod(p.patched.grid_thw)) for p in prepared]
    seq = [len(p.layout.input_ids) for p in prepared]
    visual = [sum(b - a for a, b in p.layout.patch_spans) for p in prepared]
    flops = sum(2.0 * (p_vis * n + p_llm * s) for n, s in zip(patches, seq, strict=True))
    device = torch.cuda.get_device_name() if cuda else "cpu (tiny model: code path only)"
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in device), None) if cuda else None
    row = {
        "family": family,
        "device": device,
        "videos": len(work),
        "batch": args.batch,
        "frames": args.frames,
        "resolution": args.resolution,
        "build_s": round(build_s, 1),
        "videos_per_s": len(work) / full_s,
        "forward_videos_per_s": len(work) / forward_s,
        "visual_tokens_per_video": float(np.mean(visual)),
        "tokens_per_video": float(np.mean(seq)),
        "params_vision_m": p_vis / 1e6,
        "params_lm_m": p_llm / 1e6,
        "tflops_per_s_forward": flops / forward_s / 1e12,
        "bf16_peak_share_forward": flops / forward_s / (peak * 1e12) if peak else None,
        "bf16_peak_share_end_to_end": flops / full_s / (peak * 1e12) if peak else None,
        "peak_gpu_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }
    del bb
    if cuda:
        torch.cuda.empty_cache()
    return row


def compare_processors(decoded: list, resolution: int) -> dict[str, Any]:
    """Our preprocessing against transformers' processors on the decoded real frames (grey levels)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from encoder.vlm.preprocess import CLIP_MEAN, CLIP_STD, PreprocessConfig, preprocess_frames

    cfg = PreprocessConfig(14, 2, 2, CLIP_MEAN, CLIP_STD, 56 * 56, resolution * resolution)
    grey = np.repeat(np.array(CLIP_STD), 2 * 14 * 14) * 255
    pil = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": resolution * resolution})
    out: dict[str, Any] = {}
    diffs, grids = [], 0
    for d in decoded:
        frame = d.frames[0]
        ref = pil(images=[frame], return_tensors="np")
        ours = preprocess_frames(np.stack([frame, frame]), np.zeros(2), cfg)
        grids += tuple(ref["image_grid_thw"][0]) == ours.grid_thw
        diffs.append(np.abs(ref["pixel_values"] - ours.pixel_values) * grey)
    lv = np.concatenate(diffs)
    out["pil_image_processor"] = {
        "videos": len(decoded),
        "same_grid": grids,
        "mean_grey_levels": float(lv.mean()),
        "max_grey_levels": float(lv.max()),
    }
    from transformers import Qwen2VLVideoProcessor

    try:
        lib = Qwen2VLVideoProcessor(size={"shortest_edge": 56 * 56, "longest_edge": resolution * resolution})
    except ImportError:  # torchvision missing (CPU torch): the video processor cannot be built
        out["torchvision_video_processor"] = "not run: torchvision does not import here"
        return out
    try:
        out["torchvision_video_processor"] = _compare_video_processor(lib, decoded, cfg, grey)
    except Exception as exc:  # a library API change must not cost the rest of the one-call run
        out["torchvision_video_processor"] = f"failed: {type(exc).__name__}: {exc}"[:300]
    return out


def _compare_video_processor(lib: Any, decoded: list, cfg: Any, grey: np.ndarray) -> dict[str, Any]:
    import torch

    from encoder.vlm.preprocess import preprocess_frames

    diffs, grids = [], 0
    for d in decoded:
        frames = d.frames[: 2 * (len(d.frames) // 2)]
        ref = lib(
            videos=[torch.from_numpy(frames).permute(0, 3, 1, 2)],
            return_tensors="np",
            do_sample_frames=False,
        )
        ours = preprocess_frames(frames, d.times_s[: len(frames)], cfg)
        grids += tuple(ref["video_grid_thw"][0]) == ours.grid_thw
        diffs.append(np.abs(ref["pixel_values_videos"] - ours.pixel_values) * grey)
    lv = np.concatenate(diffs)
    return {
        "videos": len(decoded),
        "same_grid": grids,
        "mean_grey_levels": float(lv.mean()),
        "max_grey_levels": float(lv.max()),
    }


def structured_vectors(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((32, d)).astype(np.float32)
    x = rng.standard_normal((n, 32)).astype(np.float32) @ basis
    x += 0.5 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def bench_faiss(n: int, d: int, nq: int, smoke: bool) -> list[dict[str, Any]]:
    """Flat and IVF on faiss-cpu and on the GPU: queries/s (one batch of ``nq``), recall@10 against Flat."""
    try:
        import faiss
    except ImportError:
        return [{"index": "faiss", "error": "faiss is not installed"}]
    xb = structured_vectors(n, d, 0)
    xq = structured_vectors(nq, d, 1)
    k, nlist = 10, max(16, int(2 * np.sqrt(n)))
    rows: list[dict[str, Any]] = []

    def timed(name: str, index: Any, build_s: float, truth: np.ndarray | None) -> np.ndarray:
        index.search(xq[:8], k)  # warm-up
        t0 = time.perf_counter()
        _, ids = index.search(xq, k)
        dt = time.perf_counter() - t0
        recall = 1.0
        if truth is not None:
            recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, truth, strict=True)]))
        rows.append(
            {"index": name, "n": n, "d": d, "build_s": round(build_s, 2), "qps": nq / dt, "recall@10": recall}
        )
        return np.asarray(ids)

    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(xb)
    truth = timed("faiss-cpu Flat", flat, time.perf_counter() - t0, None)
    t0 = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(xb[np.random.default_rng(2).choice(n, min(n, 64 * nlist), replace=False)])
    ivf.add(xb)
    build_s = time.perf_counter() - t0
    for nprobe in NPROBES:
        ivf.nprobe = nprobe
        timed(f"faiss-cpu IVF{nlist},Flat nprobe {nprobe}", ivf, build_s, truth)
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus and not smoke:
        res = faiss.StandardGpuResources()
        t0 = time.perf_counter()
        gflat = faiss.index_cpu_to_gpu(res, 0, flat)
        timed("faiss-gpu Flat", gflat, time.perf_counter() - t0, truth)
        t0 = time.perf_counter()
        givf: Any = faiss.index_cpu_to_gpu(res, 0, ivf)
        build_s = time.perf_counter() - t0  # the copy only: trained on the CPU above
        for nprobe in NPROBES:
            givf.nprobe = nprobe
            timed(f"faiss-gpu IVF{nlist},Flat nprobe {nprobe}", givf, build_s, truth)
        return rows
    try:
        import torch
    except ImportError:
        return rows
    if torch.cuda.is_available() and not smoke:

        class TorchExact:
            def __init__(self) -> None:
                self.xb = torch.from_numpy(xb).cuda()

            def search(self, q: np.ndarray, kk: int):  # type: ignore[no-untyped-def]
                scores = torch.from_numpy(q).cuda() @ self.xb.T
                top = scores.topk(kk, dim=1)
                torch.cuda.synchronize()
                return top.values.cpu().numpy(), top.indices.cpu().numpy()

        t0 = time.perf_counter()
        timed("torch GPU exact (faiss-gpu absent)", TorchExact(), time.perf_counter() - t0, truth)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny models and 20k vectors (CPU)")
    ap.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "videos")
    ap.add_argument("--limit", type=int, default=12, help="real videos to decode")
    ap.add_argument(
        "--min-videos", type=int, default=48, help="videos per timed run (the decoded ones repeated)"
    )
    ap.add_argument("--families", nargs="+", default=["qwen2_5_vl", "qwen3_vl"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--resolution", type=int, default=448)
    ap.add_argument("--faiss-n", type=int, default=None, help="vectors (default 1M, 20k with --smoke)")
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    if args.smoke:
        args.min_videos = min(args.min_videos, 8)
        args.batch = min(args.batch, 4)
    t0 = time.perf_counter()
    decoded, decoder = load_videos(args.videos, args.limit, args.fps, args.frames)
    report: dict[str, Any] = {
        "decoder": decoder,
        "decode_s": round(time.perf_counter() - t0, 1),
        "videos_decoded": [Path(d.info.path).name for d in decoded],
        "vlm": [],
    }

    def section(name: str, run: Any) -> Any:
        """One part of the one-call run: its error is reported, the other parts still run, and what is
        measured so far is written out after each part (a run cut short keeps it)."""
        try:
            value = run()
        except Exception as exc:
            value = {"error": f"{name}: {type(exc).__name__}: {exc}"[:500]}
        if args.out:
            args.out.write_text(json.dumps(report, indent=2))
        return value

    report["processors"] = section("processors", lambda: compare_processors(decoded, args.resolution))
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            row = section(family, lambda f=family: bench_family(f, decoded, args, Path(tmp)))
            report["vlm"].append({"family": family, **row})
            print(json.dumps(report["vlm"][-1]), file=sys.stderr, flush=True)
    if not args.no_faiss:
        n = args.faiss_n or (20_000 if args.smoke else 1_000_000)
        report["faiss"] = section(
            "faiss", lambda: bench_faiss(n, 384, 100 if args.smoke else 1000, args.smoke)
        )
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text)
    if args.json:
        print(text)
        return
    for r in report["vlm"]:
        if "error" in r:
            print(f"{r['family']:<11} error: {r['error']}")
            continue
        share = r["bf16_peak_share_forward"]
        print(
            f"{r['family']:<11} {r['device'][:28]:<28} {r['videos_per_s']:7.2f} videos/s "
            f"(forward {r['forward_videos_per_s']:.2f}), {r['tokens_per_video']:.0f} tokens/video "
            f"({r['visual_tokens_per_video']:.0f} visual)"
            + (f", bf16 share {share:.1%}" if share is not None else "")
        )
    faiss_rows = report.get("faiss", [])
    for r in faiss_rows if isinstance(faiss_rows, list) else [faiss_rows]:
        print(r)
    print(json.dumps(report["processors"]))


if __name__ == "__main__":
    main()
