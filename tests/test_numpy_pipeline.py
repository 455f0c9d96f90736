"""The NumPy training pipeline (training without TensorFlow): its augmentations are tf.data's,
and its batches keep input, target and mask aligned as tf.data's do."""

import cv2
import numpy as np
import pytest

from mask2face import numpy_pipeline as npp
from mask2face.pairs import list_pairs
from mask2face.predict import grown_holes, with_hole as predict_hole
from tests.test_train import SIZE, write_pairs


def smooth_image(seed=1):
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random((SIZE, SIZE, 3)).astype(np.float32), (0, 0), 2)
    mask = np.zeros((SIZE, SIZE, 1), np.float32)
    mask[30:50, 10:40] = 1.0
    return image, mask, rng


def test_the_moves_are_tf_datas_to_float_rounding():
    """The same draws move, enlarge, cut and soften an image as tf.data's augmentation does
    (JPEG aside: two encoders)."""
    tf = pytest.importorskip("tensorflow")
    from mask2face import data
    image, mask, rng = smooth_image()
    pair = [tf.constant(image), tf.constant(mask)]
    for _ in range(3):
        draws = rng.uniform(-1, 1, 5).astype(np.float32)
        for ours, theirs in zip(npp._move([image, mask], draws),
                                data._move(pair, tf.constant(draws))):
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-4)
        draws = rng.random(4).astype(np.float32)
        for ours, theirs in zip(npp._zoom([image, mask], draws, 0.38),
                                data._zoom(pair, tf.constant(draws), 0.38)):
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-4)
        draws = rng.random(5).astype(np.float32)
        for ours, theirs in zip(npp._reframe([image, mask], draws),
                                data._reframe(pair, tf.constant(draws))):
            np.testing.assert_array_equal(ours, theirs.numpy())
    soften = np.array([0.3, 0.1, 0.5, 0.9, 0.0], np.float32)  # softened, not compressed
    ours = npp._degrade([image], soften)[0]
    theirs = data._degrade([tf.constant(image)], tf.constant(soften), 0)[0].numpy()
    # Nearer tf.data's softened image than the image itself, by far.
    assert np.abs(ours - theirs).max() < 0.02
    assert np.abs(ours - theirs).mean() < 0.3 * np.abs(ours - image).mean()
    # The hole the NumPy pipeline makes is predict's (grown_holes); tf.data's is the same.
    np.testing.assert_array_equal(grown_holes(mask[None, ..., 0] > 0.5)[0],
                                  data.grown_hole(tf.constant(mask)).numpy()[..., 0])


def test_a_hole_spreads_sideways_and_down_never_up():
    hole = np.zeros((SIZE, SIZE, 1), np.float32)
    hole[30:40, 20:30] = 1.0
    rows, columns = np.nonzero(npp.spread_hole(hole, 3, 5)[..., 0])
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (30, 44, 17, 32)


def test_numpy_batches_keep_input_target_and_mask_aligned(tmp_path):
    """Augmented batches: float32 in [0, 1], the mask 0 or 1, the input the target exactly
    outside the (grown) mask and different over it, flips seen both ways; without augmentation
    the pairs as they are, in order."""
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    batches = npp.pair_batches(pairs, SIZE, 4, training=True, mask_head=True, seed=3,
                               workers=1)
    assert len(batches) == 3
    flipped_seen = set()
    for index in range(len(batches)):
        masked, targets = batches[index]
        clean, mask = targets["image"][..., :3], targets["mask"][..., 0]
        assert masked.dtype == np.float32 and masked.shape == (4, SIZE, SIZE, 3)
        np.testing.assert_array_equal(targets["image"][..., 3], mask)
        assert set(np.unique(mask)) <= {0.0, 1.0} and 0 <= clean.min() and clean.max() <= 1
        for m, c, region in zip(masked, clean, mask):
            differ = np.abs(m - c).max(axis=-1) > 1e-6
            assert not differ[region < 0.5].any()
            if region.any():
                assert differ[region > 0.5].mean() > 0.5
                flipped_seen.add(bool(region[:, :SIZE // 2].sum() < region[:, SIZE // 2:].sum()))
    assert flipped_seen == {True, False}
    plain = npp.pair_batches(pairs, SIZE, 5, training=False, mask_head=False, workers=1)
    masked, image_target = plain[0]
    first = npp.read_pair(pairs.inputs[0], pairs.outputs[0], pairs.masks[0], SIZE)
    np.testing.assert_array_equal(masked[0], first[0] / np.float32(255))
    assert image_target.shape == (5, SIZE, SIZE, 4) and len(plain) == 3


def test_numpy_holes_are_predicts_holes(tmp_path):
    """hole_share 1 with the fill from round the hole: each input is its pair (as augmented)
    with predict's hole, filled as predict fills it, and the mask target is the whole hole; the
    same draws give the same batch again."""
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    options = dict(training=True, mask_head=True, seed=3, workers=1, unmasked_share=0.0)
    holes = npp.pair_batches(pairs, SIZE, 12, hole_share=1.0, surroundings=True, **options)
    (holed, targets), (again, _) = holes[0], holes[0]
    np.testing.assert_array_equal(holed, again)
    hole = targets["mask"][..., 0]
    assert hole.any()
    # The augmented pair under the hole: the same draws with no hole. Its mask grown is the hole.
    rng_pairs = npp.pair_batches(pairs, SIZE, 12, **options)
    masked, plain = rng_pairs[0]
    mask = plain["mask"][..., 0] > 0.5
    np.testing.assert_array_equal(grown_holes(mask), hole)
    np.testing.assert_allclose(holed, predict_hole(masked, mask, surroundings=True), atol=1e-5)


def test_face_outline_needs_tf_data(tmp_path):
    from mask2face.errors import UsageError
    pairs = list_pairs(write_pairs(tmp_path) / "train")
    with pytest.raises(UsageError, match="face_outline"):
        npp.pair_batches(pairs, SIZE, 4, training=True, mask_head=True, hole_share=0.5,
                         face_outline=True)


def test_a_pack_unpacks_into_pairs_to_train_on(tmp_path):
    """A pack of some training pairs unpacks into a pairs folder: the masks exact, the faces
    within JPEG's error, the masked face the clean one outside the grown mask, identities
    kept; a file that is no pack is a one-line error."""
    from mask2face.errors import UsageError
    from mask2face.pack import main, pack, unpack
    pairs = list_pairs(write_pairs(tmp_path / "pairs") / "train")
    for masked_path, clean_path, mask_path in zip(pairs.inputs, pairs.outputs, pairs.masks):
        clean = cv2.GaussianBlur(cv2.imread(clean_path), (0, 0), 3)  # a face is smooth
        masked = np.where(cv2.imread(mask_path)[..., :1] > 0, 128, clean).astype(np.uint8)
        cv2.imwrite(clean_path, clean)
        cv2.imwrite(masked_path, masked)
    assert pack(tmp_path / "pairs", tmp_path / "pairs.npz", count=5, quality=95) == 5
    assert main(["--unpack", str(tmp_path / "pairs.npz"), str(tmp_path / "again")]) == 0
    again = list_pairs(tmp_path / "again" / "train")
    assert len(again) == 5
    names = {p.split("/")[-1]: i for i, p in enumerate(pairs.inputs)}
    for k, path in enumerate(again.inputs):
        i = names[path.split("/")[-1]]
        assert again.identities[k] == pairs.identities[i]
        ours = npp.read_pair(again.inputs[k], again.outputs[k], again.masks[k], SIZE)
        theirs = npp.read_pair(pairs.inputs[i], pairs.outputs[i], pairs.masks[i], SIZE)
        np.testing.assert_array_equal(ours[2], theirs[2])
        outside = ours[2][..., 0] == 0
        np.testing.assert_array_equal(ours[0][outside], ours[1][outside])
        for a, b in zip(ours[:2], theirs[:2]):
            assert np.abs(a.astype(int) - b.astype(int)).mean() < 3
    (tmp_path / "not.npz").write_text("no pack")
    with pytest.raises(UsageError, match="not a pack"):
        unpack(tmp_path / "not.npz", tmp_path / "none")
    with pytest.raises(UsageError, match="no such file"):
        unpack(tmp_path / "missing.npz", tmp_path / "none")
    packed = dict(np.load(tmp_path / "pairs.npz"))
    del packed["format"]  # as an earlier pack's
    np.savez(tmp_path / "old.npz", **packed)
    with pytest.raises(UsageError, match="pack the pairs again"):
        unpack(tmp_path / "old.npz", tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_a_missing_tensorflow_points_to_jax_where_it_is_installed(monkeypatch):
    pytest.importorskip("jax")
    from mask2face.cli import missing_package
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert "KERAS_BACKEND=jax" in missing_package("tensorflow")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert "KERAS_BACKEND" not in missing_package("tensorflow")
