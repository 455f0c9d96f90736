"""Glasses drawn onto training pairs (mask2face.glasses)."""

import numpy as np
import pytest
from PIL import Image

from mask2face.errors import UsageError
from mask2face.glasses import add_glasses, draw_glasses, main, usual_eyes
from tests.test_train import SIZE, write_pairs


def read(path):
    return np.asarray(Image.open(path))


def test_glasses_lie_over_the_eyes_and_what_hides_the_face_is_drawn():
    eyes = usual_eyes(128, 0.3)
    for seed in range(20):
        rgb, alpha, opaque = draw_glasses(128, eyes, np.random.default_rng(seed))
        assert rgb.min() >= 0 and rgb.max() <= 1
        assert alpha.min() >= 0 and alpha.max() <= 1
        # What hides the face is drawn near-opaque: frames, and dark lenses (0.8-0.95, shaded
        # to no less than 0.6 of that).
        assert np.all(alpha[opaque > 0.5] >= 0.45)
        drawn = alpha > 0.05
        rows = np.nonzero(drawn.any(axis=1))[0]
        # Frames round both eyes, nothing down at the mouth or up at the hairline.
        for x, y in np.round(eyes).astype(int):
            assert drawn[y - 20:y + 20, x - 20:x + 20].any()
        assert rows.min() > eyes[0, 1] - 30 and rows.max() < eyes[0, 1] + 30


def test_added_glasses_change_only_the_chosen_pairs_and_take_frames_out_of_the_mask(tmp_path):
    source = write_pairs(tmp_path / "pairs", count=8)
    (source / "test" / "inputs").mkdir(parents=True)
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(source / "test/inputs/t.png")
    counts = add_glasses(source, tmp_path / "glasses", share=0.5, seed=1)
    assert counts["pairs"] == 8 and 0 < counts["glasses"] < 8
    target = tmp_path / "glasses"
    assert (target / "manifest.jsonl").read_text() == (source / "manifest.jsonl").read_text()
    test_image = "test/inputs/t.png"
    assert (target / test_image).read_bytes() == (source / test_image).read_bytes()
    changed = 0
    for path in sorted((source / "train" / "inputs").iterdir()):
        images = {d: (read(source / "train" / d / path.name),
                      read(target / "train" / d / path.name))
                  for d in ("inputs", "outputs", "masks")}
        if all(np.array_equal(a, b) for a, b in images.values()):
            continue
        changed += 1
        (masked, masked2), (clean, clean2), (mask, mask2) = images.values()
        drawn = np.abs(clean2.astype(int) - clean.astype(int)).max(axis=-1) > 2
        # Glasses in front of the mask: drawn the same onto the input and the target, ...
        same = np.abs(masked2.astype(int) - clean2.astype(int)).max(axis=-1) <= 2
        assert np.all(same[drawn & (mask == 0)])
        # ... and the true mask only ever loses pixels, where glasses were drawn.
        assert np.all(mask2 <= mask)
        on_input = np.abs(masked2.astype(int) - masked.astype(int)).max(axis=-1) > 2
        assert np.all((drawn | on_input)[mask2 < mask])
    assert changed == counts["glasses"]


def test_none_or_every_pair_and_bad_input(tmp_path, capsys):
    source = write_pairs(tmp_path / "pairs", count=4)
    assert add_glasses(source, tmp_path / "none", share=0.0)["glasses"] == 0
    for path in (source / "train" / "inputs").iterdir():
        assert (tmp_path / "none/train/inputs" / path.name).read_bytes() == path.read_bytes()
    assert main([str(source), str(tmp_path / "all"), "--share", "1"]) == 0
    assert "4 of 4 training pairs given glasses" in capsys.readouterr().out
    with pytest.raises(UsageError, match="not a pairs folder"):
        add_glasses(tmp_path / "nothing", tmp_path / "x")
    with pytest.raises(UsageError, match="--share"):
        add_glasses(source, tmp_path / "y", share=1.5)


def test_an_unreadable_pair_is_copied_as_it_is_reported_and_the_rest_go_on(tmp_path, caplog):
    source = write_pairs(tmp_path / "pairs", count=4)
    broken = sorted((source / "train" / "inputs").iterdir())[1]
    broken.write_bytes(b"not a png")
    counts = add_glasses(source, tmp_path / "glasses", share=1.0)
    assert counts["glasses"] == 3 and len(counts["failed"]) == 1
    assert counts["failed"][0].startswith(broken.stem)
    assert (tmp_path / "glasses/train/inputs" / broken.name).read_bytes() == b"not a png"
    assert main([str(source), str(tmp_path / "again"), "--share", "1"]) == 1
    assert broken.stem in caplog.text
