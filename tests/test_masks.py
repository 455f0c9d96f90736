import cv2
import numpy as np
import pytest

from mask2face.config import MasksConfig
from mask2face.errors import ConfigError, UsageError
from mask2face.faces import face_crop
from mask2face.landmarks import EYES
from mask2face.masks import KINDS, PALETTES, TemplateSet, apply_mask, spec_from_config

CROP = 256


def crops(sample_faces):
    """Each sample face as a 256 px crop with landmarks, also rolled and turned."""
    out = []
    for name, (photo, face) in sample_faces.items():
        crop = face_crop(face.landmarks, CROP)
        image, lm = crop.apply(photo), crop.to_crop(face.landmarks)
        for roll in (-30, -15, 0, 15, 30):
            rotation = cv2.getRotationMatrix2D((CROP / 2, CROP / 2), roll, 1.0)
            rolled = cv2.warpAffine(image, rotation, (CROP, CROP), borderMode=cv2.BORDER_REPLICATE)
            out.append((f"{name} roll {roll}", rolled, lm @ rotation[:, :2].T + rotation[:, 2]))
        for side in (-1, 1):  # a turned head: one half of the face squeezed towards the nose
            turned = lm.copy()
            half = (turned[:, 0] - lm[30, 0]) * side > 0
            turned[half, 0] = lm[30, 0] + (turned[half, 0] - lm[30, 0]) * 0.55
            out.append((f"{name} turned {side}", image, turned))
    return out


def check_region(image, masked, region, lm, label):
    inside = lambda p: region[int(round(p[1])), int(round(p[0]))] == 255  # noqa: E731
    assert all(inside(p) for p in lm[48:68]), f"{label}: mouth not covered"
    assert inside(lm[33]), f"{label}: nose tip not covered"
    assert not any(inside(p) for p in lm[EYES]), f"{label}: an eye is covered"
    count, _ = cv2.connectedComponents((region > 0).astype(np.uint8))
    assert count == 2, f"{label}: region in {count - 1} pieces"
    share = (region > 0).mean()
    assert 0.15 <= share <= 0.55, f"{label}: region is {share:.0%} of the crop"
    band = cv2.dilate(region, np.ones((5, 5), np.uint8))
    assert np.array_equal(masked[band == 0], image[band == 0]), f"{label}: changed outside"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_covers_mouth_and_nose_not_eyes(sample_faces, kind):
    for label, image, lm in crops(sample_faces):
        rng = np.random.default_rng(1)
        spec = spec_from_config(MasksConfig(mask_type=kind), rng)
        masked, region = apply_mask(image, lm, spec, rng)
        assert masked.shape == image.shape and region.dtype == np.uint8
        check_region(image, masked, region, lm, f"{kind} {label}")


@pytest.mark.parametrize("kind", [k for k in KINDS if KINDS[k].pulled_up])
def test_a_mask_pulled_up_to_the_eyes_reaches_them_and_covers_none(sample_faces, kind):
    """Worn high (top and cheeks lifted, little clearance): under each eye the top edge comes within
    8 % of the face's width of the lower lid (a neat mask stops 10-21 % below it), and still
    covers no eye point."""
    from mask2face.landmarks import LEFT_EYE, RIGHT_EYE
    for label, image, lm in crops(sample_faces):
        if "roll" in label:  # the image's columns run down the face only when it is upright
            continue
        gaps = {}
        for worn, (lift, clearance, cheeks) in {"neat": (0.0, 0.06, 0.0),
                                                "high": (0.14, 0.02, 0.1)}.items():
            rng = np.random.default_rng(1)
            spec = spec_from_config(MasksConfig(mask_type=kind, mask_variety=0.0), rng)
            spec.top_lift, spec.eye_clearance, spec.cheek_lift = lift, clearance, cheeks
            masked, region = apply_mask(image, lm, spec, rng)
            check_region(image, masked, region, lm, f"{worn} {kind} {label}")
            width = lm[16, 0] - lm[0, 0]
            gaps[worn] = [(np.argmax(region[:, int(round(eye[:, 0].mean()))] > 0)
                           - eye[4:6, 1].max()) / width for eye in (lm[LEFT_EYE], lm[RIGHT_EYE])]
        assert max(gaps["high"]) <= 0.08 and min(gaps["neat"]) >= 0.1, f"{label}: {gaps}"


def test_maskTheFace_templates_cover_like_our_own(sample_faces, templates_path):
    templates = TemplateSet(templates_path)
    assert "template:surgical" in templates.names() and "template:KN95" in templates.names()
    for name in templates.names():
        for label, image, lm in crops(sample_faces):
            rng = np.random.default_rng(0)
            spec = spec_from_config(MasksConfig(mask_type=name), rng, templates)
            masked, region = apply_mask(image, lm, spec, rng)
            check_region(image, masked, region, lm, f"{name} {label}")


def test_turned_head_picks_the_turned_template(sample_faces, templates_path):
    from mask2face.masks.geometry import face_sheet
    from mask2face.masks.templates import choose_variant
    templates = TemplateSet(templates_path)
    surgical = templates.get("template:surgical")
    turns = {label: face_sheet(lm).turn for label, _, lm in crops(sample_faces)}
    left = [k for k in turns if k.endswith("turned -1")]
    assert all(choose_variant(surgical, turns[k]).name == "surgical_left" for k in left)
    right = [k for k in turns if k.endswith("turned 1")]
    assert all(choose_variant(surgical, turns[k]).name == "surgical_right" for k in right)
    assert choose_variant(surgical, 0.0).name == "surgical"


def test_same_seed_same_mask_random_varies(sample_faces):
    photo, face = sample_faces["astronaut"]
    config = MasksConfig(mask_type="random")
    def draw(seed):
        rng = np.random.default_rng(seed)
        return apply_mask(photo, face.landmarks, spec_from_config(config, rng), rng)[0]
    assert np.array_equal(draw(7), draw(7))
    assert len({draw(s).tobytes() for s in range(6)}) > 3


def test_full_photo_only_face_area_changes(sample_faces):
    photo, face = sample_faces["grace_hopper"]
    rng = np.random.default_rng(0)
    masked, region = apply_mask(photo, face.landmarks, spec_from_config(MasksConfig(
        mask_type="cloth", mask_pattern="floral", mask_color="#336699"), rng), rng)
    changed = np.any(masked != photo, axis=2)
    ys, xs = np.nonzero(changed)
    x0, y0, x1, y1 = face.box
    w = x1 - x0
    assert xs.min() > x0 - w and xs.max() < x1 + w and ys.max() < y1 + w


def test_bad_input():
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    spec = spec_from_config(MasksConfig(mask_type="surgical"), rng)
    with pytest.raises(UsageError, match="68"):
        apply_mask(image, np.zeros((5, 2)), spec, rng)
    with pytest.raises(ConfigError, match="unknown mask kind; known: random, surgical"):
        spec_from_config(MasksConfig(mask_type="no-such-kind"), rng)
    with pytest.raises(ConfigError, match="unknown pattern"):
        spec_from_config(MasksConfig(mask_pattern="paisley"), rng)


def test_pattern_image_path(tmp_path, sample_faces):
    photo, face = sample_faces["astronaut"]
    good = tmp_path / "fabric.png"
    cv2.imwrite(str(good), np.indices((40, 40)).sum(0).astype(np.uint8) * 6)
    rng = np.random.default_rng(0)
    config = dict(mask_type="cloth", mask_color="#808080", mask_color_weight=1.0,
                  mask_variety=0.0)
    plain = spec_from_config(MasksConfig(**config), np.random.default_rng(0))
    spec = spec_from_config(MasksConfig(**config, mask_pattern=str(good),
                                        mask_pattern_weight=1.0), rng)
    assert spec.pattern == str(good)
    # The image's diagonal ramp shows on the mask: far more spread than the plain grey mask's
    # shading alone.
    spreads = []
    for s_ in (plain, spec):
        masked, region = apply_mask(photo, face.landmarks, s_, np.random.default_rng(0))
        spreads.append(masked[region > 0].std())
    assert spreads[1] > 2 * spreads[0]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"nope")
    with pytest.raises(ConfigError, match="cannot use pattern image"):
        spec_from_config(MasksConfig(mask_type="cloth", mask_pattern=str(bad)), rng)


def test_template_folder_errors_name_file_and_section(tmp_path, templates_path):
    masks = tmp_path / "masks"
    (masks / "templates").mkdir(parents=True)
    (masks / "masks.cfg").write_text("[surgical]\ntemplate: masks/templates/surgical.png\n"
                                     "mask_a: 1, 2\n")
    with pytest.raises(ConfigError, match=r"masks.cfg \[surgical\]: missing 'mask_b'"):
        TemplateSet(tmp_path)
    lines = "".join(f"mask_{k}: 1, 2\n" for k in "abcdef")
    (masks / "masks.cfg").write_text(f"[surgical]\ntemplate: masks/templates/surgical.png\n{lines}")
    with pytest.raises(ConfigError, match=r"\[surgical\]: cannot read template image"):
        TemplateSet(tmp_path)
    with pytest.raises(ConfigError, match="no masks.cfg"):
        TemplateSet(tmp_path / "templates-nowhere")


# ------------------------------------------------------------ masks on a user's own photos

@pytest.mark.parametrize("kind", ["surgical", "n95", "kn95", "cloth", "gas"])
def test_mask_photo_covers_mouth_and_nose_tip_not_eyes(sample_faces, finder, kind):
    from mask2face.config import MasksConfig
    from mask2face.masks.photos import mask_photo
    for photo, face in sample_faces.values():
        result = mask_photo(photo, finder, MasksConfig(mask_type=kind), seed=3)
        assert result.image.shape == photo.shape and result.image.dtype == photo.dtype
        assert len(result.faces) == 1 and result.kinds == [kind]
        lm = face.landmarks
        for point in (lm[48:68].mean(axis=0), lm[33]):  # mouth, nose tip
            x, y = np.round(point).astype(int)
            assert result.region[y, x] == 255, kind
        for eye in (lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)):
            x, y = np.round(eye).astype(int)
            assert result.region[y - 2:y + 3, x - 2:x + 3].max() == 0, kind
        near = cv2.dilate(result.region, np.ones((7, 7), np.uint8)) > 0
        assert np.array_equal(result.image[~near], photo[~near])  # far pixels untouched


def masks_command(cwd, *args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "mask2face.masks", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def photo_folder(tmp_path, photos):
    from mask2face.images import write_image
    folder = tmp_path / "photos"
    write_image(folder / "a.png", photos["astronaut"])
    write_image(folder / "people" / "g.jpg", photos["grace_hopper"], quality=95)
    write_image(folder / "sky.png", np.full((90, 120, 3), 200, np.uint8))
    (folder / "broken.jpg").write_bytes(b"not a photo")
    return folder


def test_masks_command_on_a_folder_reports_and_goes_on(tmp_path, photo_folder):
    import json
    from mask2face.images import read_image
    result = masks_command(tmp_path, photo_folder, "--mask-type", "surgical", "--color",
                           "#7fb3d8", "--save-region")
    assert result.returncode == 1, result.stderr[-2000:]  # the broken photo failed
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["written"] == 2 and summary["faces"] == 2 and summary["failed"] == 2
    assert "no face" in result.stdout and "broken.jpg" in result.stdout
    assert "2 masked (2 faces), written under masked;" in result.stderr
    out = tmp_path / "masked"
    assert read_image(out / "a.png").shape == read_image(photo_folder / "a.png").shape
    assert (out / "people" / "g.jpg").exists() and (out / "a_region.png").exists()
    assert not (out / "sky.png").exists()


def test_maskthefaces_flags_give_our_output_and_seed_gives_same_bytes(tmp_path, photo_folder):
    ours = masks_command(tmp_path, photo_folder / "a.png", "--mask-type", "n95", "--color",
                         "#112233", "--color-weight", "0.7", "-o", tmp_path / "ours.png")
    theirs = masks_command(tmp_path, "--path", photo_folder / "a.png", "--mask_type", "N95",
                           "--color", "#112233", "--color_weight", "0.7", "-o",
                           tmp_path / "theirs.png")
    assert ours.returncode == 0 and theirs.returncode == 0, theirs.stderr[-2000:]
    assert f"written to {tmp_path / 'ours.png'};" in ours.stderr
    assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "theirs.png").read_bytes()
    again = masks_command(tmp_path, photo_folder / "a.png", "--mask-type", "n95", "--color",
                          "#112233", "--color-weight", "0.7", "-o", tmp_path / "again.png")
    assert again.returncode == 0
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "ours.png").read_bytes()


def test_masks_same_seed_same_bytes_whatever_the_workers(tmp_path, photo_folder):
    one = masks_command(tmp_path, photo_folder, "-o", tmp_path / "one", "--seed", "7")
    two = masks_command(tmp_path, photo_folder, "-o", tmp_path / "two", "--seed", "7",
                        "--workers", "2")
    assert one.returncode == two.returncode == 1
    for name in ("a.png", "people/g.jpg"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


@pytest.mark.parametrize("color", list(PALETTES["cloth"].values()))
def test_a_pattern_always_shows_whatever_the_mask_colour(sample_faces, color):
    """A partner colour as close as mustard to mustard drew a plain mask for "check"."""
    photo, face = sample_faces["astronaut"]
    config = MasksConfig(mask_type="cloth", mask_pattern="check", mask_color=color,
                         mask_color_weight=1.0, mask_pattern_weight=0.9, mask_variety=0.0)
    for seed in range(8):
        rng = np.random.default_rng(seed)
        masked, region = apply_mask(photo, face.landmarks, spec_from_config(config, rng), rng)
        pixels = masked[region > 0].astype(np.float32)
        # Two colours at least MIN_PATTERN_CONTRAST apart: the checks' spread is large.
        assert pixels.std(axis=0).max() > 25, (color, seed)


def test_variety_zero_draws_the_neat_mask_and_variety_varies_fit_and_finish():
    neat = spec_from_config(MasksConfig(mask_type="surgical", mask_variety=0.0),
                            np.random.default_rng(0))
    assert (neat.top_lift, neat.chin_drop, neat.widen) == (0.0, 0.07, 0.04)
    assert not neat.print_kind and neat.light == 0 and neat.creases == 0
    varied = [spec_from_config(MasksConfig(mask_type="surgical"), np.random.default_rng(s))
              for s in range(40)]
    assert len({round(v.chin_drop, 3) for v in varied}) > 30
    assert max(v.chin_drop for v in varied) > 0.18  # some worn loose, well under the chin
    assert {v.print_kind for v in varied} >= {"", "text", "badge", "drawing"}
    assert any(v.pattern for v in varied) and any(v.color_name.startswith("#") for v in varied)
    many = [spec_from_config(MasksConfig(mask_type="cloth"), np.random.default_rng(s))
            for s in range(200)]
    sheer = [v.opacity for v in many if v.opacity < 1]
    assert sheer and all(0.45 <= o <= 0.8 for o in sheer)
    import cv2
    hues = [cv2.cvtColor((v.color[None, None] * 255).round().astype(np.uint8),
                         cv2.COLOR_RGB2HSV)[0, 0, 0] / 179 for v in many]
    assert sum(0.02 <= h <= 0.14 for h in hues) >= 0.1 * len(many)  # skin-like masks drawn


def test_a_sheer_mask_shows_the_face_through_and_keeps_its_full_region(sample_faces):
    photo, face = sample_faces["astronaut"]
    config = MasksConfig(mask_type="surgical", mask_color="#202020", mask_color_weight=1.0,
                         mask_variety=0.0)
    rng = np.random.default_rng(0)
    spec = spec_from_config(config, rng)
    solid, region = apply_mask(photo, face.landmarks, spec, np.random.default_rng(1))
    spec.opacity = 0.5
    sheer, sheer_region = apply_mask(photo, face.landmarks, spec, np.random.default_rng(1))
    assert np.array_equal(region, sheer_region)  # the target region is the whole mask
    inside = region > 0
    # Half-way between the face and the solid mask.
    middle = (photo[inside].astype(float) + solid[inside]) / 2
    assert np.abs(sheer[inside] - middle).mean() < 2


def test_a_new_mask_kind_is_one_record(sample_faces, monkeypatch):
    """The extension point: a MaskKind added to KINDS is drawn by apply_mask with its own
    drawing, palette and straps, and worn as its record says (no other file knows of it)."""
    from mask2face.masks import MaskKind, kinds

    drawn = []

    def plain(spec, shape, rng):
        drawn.append(shape)
        return kinds.surgical(spec, shape, rng)
    record = MaskKind("plain", plain, {"red": "#ff0000"}, ((0.02, 0.5),),
                      strap_rgb=(0.0, 1.0, 0.0), valve_share=1.0, pulled_up=False)
    monkeypatch.setitem(kinds.KINDS, "plain", record)
    photo, face = next(iter(sample_faces.values()))
    crop = face_crop(face.landmarks, CROP)
    image, lm = crop.apply(photo), crop.to_crop(face.landmarks)
    spec = spec_from_config(MasksConfig(mask_type="plain", mask_variety=1.0),
                            np.random.default_rng(0))
    assert spec.color.tolist() == [1.0, 0.0, 0.0] and spec.valve and spec.eye_clearance > 0.04
    masked, region = apply_mask(image, lm, spec, np.random.default_rng(0))
    assert drawn and region.any()
    # The body is red, the straps (part of the region, towards the ears) green.
    red = masked[..., 0].astype(int) - masked[..., 1] > 60
    green = masked[..., 1].astype(int) - masked[..., 0] > 60
    assert (red & (region > 0)).sum() > 1000 and (green & (region > 0)).sum() > 20
