"""The quality benchmarks' own measures, on made-up images."""

from __future__ import annotations

import importlib.util

import numpy as np

from tests.conftest import ROOT


def _real_masks():
    spec = importlib.util.spec_from_file_location("real_masks",
                                                  ROOT / "benchmarks" / "real_masks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eye_change_off_the_mask_leaves_out_a_mask_drawn_up_to_the_lids():
    """A mask drawn over the eye region's lowest rows, replaced, changes the eye region (the
    first figure) but not its pixels off the mask (the second); a changed eye counts in both."""
    real_masks = _real_masks()
    masked = np.full((40, 40, 3), 100, np.uint8)
    eyes = np.zeros((40, 40), bool)
    eyes[10:16, 8:18] = True
    truth = np.zeros((40, 40), bool)
    truth[14:30, 4:36] = True  # the mask's top edge over the eye region's last two rows
    out = masked.copy()
    out[truth] = 160  # the mask replaced, the eyes kept
    change, bare = real_masks.eye_change(masked, out, eyes, truth)
    assert change > real_masks.EYE_CHANGE_LEVELS
    assert bare == 0.0
    out[10:12, 8:18] = 40  # and now the eye itself changed
    change, bare = real_masks.eye_change(masked, out, eyes, truth)
    assert change > real_masks.EYE_CHANGE_LEVELS and bare > real_masks.EYE_CHANGE_LEVELS
    # An eye region wholly under the mask has no pixel off it.
    assert np.isnan(real_masks.eye_change(masked, out, eyes, np.ones((40, 40), bool))[1])


def _a_square_mask_replaced():
    """A 60 px grey photo (masked), a 20 px square true mask in it (400 pixels) and a result that
    replaced the mask and nothing else."""
    masked = np.full((60, 60, 3), 100, np.uint8)
    truth = np.zeros((60, 60), bool)
    truth[20:40, 20:40] = True
    out = masked.copy()
    out[truth] = 200
    return masked, truth, out


def test_visible_outside_counts_only_changes_a_person_sees_beyond_the_band():
    """Past the band round the true mask, pixels moved by more than VISIBLE_LEVELS count (as a
    share of the mask's area); the band itself and a faint change beyond it do not."""
    real_masks = _real_masks()
    masked, truth, out = _a_square_mask_replaced()
    out[18:20, 20:40] = 200   # inside the 4 px band: no harm counted
    assert real_masks.visible_outside(truth, masked, out) == 0.0
    out[0:10, 0:10] = 100 + real_masks.VISIBLE_LEVELS  # faint, beyond the band
    assert real_masks.visible_outside(truth, masked, out) == 0.0
    out[0:10, 0:10, 1] = 100 + real_masks.VISIBLE_LEVELS + 1  # one channel past the line
    assert real_masks.visible_outside(truth, masked, out) == 100 / 400


def test_changed_outside_counts_every_changed_pixel_beyond_the_band_and_no_other():
    """``changed_outside``: past the band round the true mask, a pixel changed by a single level
    in one channel counts; an unchanged one does not, whatever the paste's weight there."""
    real_masks = _real_masks()
    masked, truth, out = _a_square_mask_replaced()
    out[16:20, 20:40] = 200  # within the 4 px band
    assert real_masks.changed_outside(truth, masked, out) == 0.0
    out[0, 0:8, 2] = 101  # one level, beyond the band
    assert real_masks.changed_outside(truth, masked, out) == 8 / 400
    assert real_masks.changed_outside(truth, masked, out, levels=1) == 0.0
    assert real_masks.visible_outside(truth, masked, out) == 0.0


def test_region_figures_count_the_mask_its_thin_parts_and_the_band_exactly():
    """``region_figures``: the share of the true mask replaced, of its thin parts (a strap under
    THIN_PX wide) and what changed further than OUTSIDE_BAND_PX from it, as a share of its area:
    a change that far away is in the band, one pixel further it is not."""
    real_masks = _real_masks()
    truth = np.zeros((80, 80), bool)
    truth[30:50, 20:40] = True  # the mask's body, 400 pixels
    truth[38:41, 40:70] = True  # a strap 3 px wide: 90 pixels, all of them thin
    replaced = truth.copy()
    replaced[38:41, 55:70] = False  # half the strap left
    weight = replaced.astype(np.float32)
    figures = real_masks.region_figures(truth, replaced, weight)
    assert figures["replaced"] == 445 / 490
    assert figures["thin"] == 0.5
    assert figures["outside"] == 0.0
    band = real_masks.OUTSIDE_BAND_PX
    weight[30 - band, 25] = 0.3  # as far above the mask as the band reaches
    assert real_masks.region_figures(truth, replaced, weight)["outside"] == 0.0
    weight[30 - band - 1, 25] = 0.3  # one row further
    figures = real_masks.region_figures(truth, replaced, weight)
    assert figures["outside"] == 1 / 490 and figures["outside replaced"] == 0.0
    replaced[30 - band - 1, 25] = True  # ... and replaced there
    assert real_masks.region_figures(truth, replaced, weight)["outside replaced"] == 1 / 490


def test_masks_drawn_on_photos_are_the_only_change_and_the_photo_is_the_original(tmp_path,
                                                                                 photos):
    """``--draw-on``: each photo with a face comes back with a mask drawn on it, its true mask
    and the photo itself as the clean original; a photo without a face is passed over."""
    from mask2face.images import write_image
    real_masks = _real_masks()
    write_image(tmp_path / "a.png", photos["astronaut"])
    write_image(tmp_path / "b.png", np.full((120, 160, 3), 90, np.uint8))  # no face
    triples = list(real_masks.photo_triples(tmp_path, 5, seed=1))
    assert len(triples) == 1
    name, masked, clean, truth = triples[0]
    assert name == str(tmp_path / "a.png")
    assert np.array_equal(clean, photos["astronaut"])
    assert 0.005 < truth.mean() < 0.5
    changed = np.abs(masked.astype(int) - clean.astype(int)).max(axis=2) > 0
    assert changed[truth].mean() > 0.9
    # Only the mask and its soft edge differ from the photo.
    import cv2
    near = cv2.dilate(truth.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert not changed[~near].any()


def test_eye_figures_are_measured_over_each_reference_fits_eyes():
    """Each reference fit's eye regions are measured apart: a fit that puts the eyes lower (on
    a glasses' lower rim, over the replaced mask) counts a change where the other sees none."""
    real_masks = _real_masks()

    def fit(row):  # 68 points with a 10 x 4 px eye at (20, row) and (40, row)
        points = np.zeros((68, 2))
        ring = np.array([(-5, 0), (-2, -2), (2, -2), (5, 0), (2, 2), (-2, 2)], float)
        points[36:42] = ring + (20, row)
        points[42:48] = ring + (40, row)
        return points

    masked = np.full((60, 60, 3), 120, np.uint8)
    truth = np.zeros((60, 60), bool)
    truth[33:55, 8:52] = True
    out = masked.copy()
    out[truth] = 170
    out[27:33, 8:52] = 150  # the mask's soft edge grown over what lies just above it
    figures = real_masks.eye_figures(masked, out, truth, {"eyes": fit(18), "rim": fit(28)})
    assert figures["eyes"] == (0.0, 0.0)
    change, bare = figures["rim"]
    assert change > real_masks.EYE_CHANGE_LEVELS and bare > real_masks.EYE_CHANGE_LEVELS


def test_a_photo_saved_as_jpeg_is_compared_by_each_faces_outcome_and_the_area_replaced():
    """--jpeg: ``same_outcome`` asks for every face's outcome in order and a replaced area (weight
    0.5 or more) within JPEG_AREA_SHARE of the larger; ``as_jpeg`` keeps the colours' order."""
    real_masks = _real_masks()

    class Result:
        def __init__(self, outcome):
            self.outcome = outcome
    first = np.zeros((20, 20))
    first[:10] = 1.0  # 200 pixels
    near, far, faint = first.copy(), first.copy(), first.copy()
    near[10:12] = 1.0  # 240: 40 more, 0.17 of the larger
    far[10:13] = 0.6  # 260: 0.23
    faint[10:13] = 0.4  # blended edge only: 200
    unmasked = [Result("unmasked")]
    assert real_masks.same_outcome(unmasked, first, unmasked, near) == (True, True)
    assert real_masks.same_outcome(unmasked, first, [Result("partly unmasked")], far) \
        == (False, False)
    assert real_masks.same_outcome(unmasked, first, [], faint) == (False, True)
    assert real_masks.same_outcome([], first * 0, [], first * 0) == (True, True)
    detailed = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    again = real_masks.as_jpeg(detailed, 90)
    assert again.shape == detailed.shape and again.dtype == np.uint8
    assert not np.array_equal(again, detailed)
    flat = np.full((32, 32, 3), (200, 50, 30), np.uint8)
    assert np.abs(real_masks.as_jpeg(flat, 90).astype(int) - flat).max() <= 3
