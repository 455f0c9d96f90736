from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mask2face.errors import ImageReadError, ModelFileError
from mask2face.faces import Detection, face_crop, get_face_finder, resolve_model_file
from mask2face.images import read_image
from mask2face.landmarks import EYES, MOUTH, NOSE_TIP
from tests.helpers import side_by_side


def plausible(face):
    lm = face.landmarks
    eyes_y = lm[EYES, 1].mean()
    assert eyes_y < lm[NOSE_TIP, 1] < lm[MOUTH, 1].mean()  # eyes above nose tip above mouth
    x0, y0, x1, y1 = face.box
    pad = 0.25 * (x1 - x0)
    assert np.all((lm[:, 0] > x0 - pad) & (lm[:, 0] < x1 + pad))
    assert np.all((lm[:, 1] > y0 - pad) & (lm[:, 1] < y1 + pad))


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_one_plausible_face(photos, finder, name):
    faces = finder.find(photos[name])
    assert len(faces) == 1
    plausible(faces[0])


def test_side_by_side_gives_two_faces(photos, finder):
    a, b = photos["astronaut"], photos["grace_hopper"]
    both = side_by_side(a, b)
    faces = finder.find(both)
    assert len(faces) == 2
    assert sorted(f.box[0] < a.shape[1] for f in faces) == [False, True]


def test_large_photo_searched_downscaled_points_in_original_pixels(photos, finder):
    small = finder.find(photos["astronaut"])[0]
    big_photo = np.asarray(Image.fromarray(photos["astronaut"]).resize((2048, 2048)))
    big = finder.find(big_photo)[0]
    assert np.abs(big.landmarks / 4 - small.landmarks).mean() < 3.0


def test_exif_rotated_photo_is_found_after_orientation(tmp_path, photos, finder):
    path = tmp_path / "rotated.jpg"
    image = Image.fromarray(photos["grace_hopper"]).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view": undoes the ROTATE_90 above
    image.save(path, exif=exif.tobytes())
    loaded = read_image(path)
    assert loaded.shape == photos["grace_hopper"].shape
    assert len(finder.find(loaded)) == 1


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "CMYK"])
def test_modes_read_as_rgb_and_found(tmp_path, photos, finder, mode):
    image = Image.fromarray(photos["astronaut"])
    if mode == "I;16":
        gray = np.asarray(image.convert("L")).astype(np.uint16) * 257
        image = Image.fromarray(gray)
        suffix = ".png"
    else:
        image = image.convert(mode)
        suffix = ".jpg" if mode == "CMYK" else ".png"
    path = tmp_path / f"face{suffix}"
    image.save(path)
    loaded = read_image(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (512, 512, 3)
    assert len(finder.find(loaded)) == 1


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"this is text, not a picture", "not an image"),
])
def test_bad_files_one_clear_error(tmp_path, content, message):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message):
        read_image(path)


def test_truncated_jpeg_and_bomb(tmp_path, photos):
    path = tmp_path / "cut.jpg"
    Image.fromarray(photos["astronaut"]).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageReadError, match="cannot decode"):
        read_image(path)
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000)).save(big)
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(big, max_pixels=1_000_000)
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.png")


def test_missing_landmark_model_is_one_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="landmarks_predictor_path.*file not found"):
        resolve_model_file(str(tmp_path / "none.dat"), "x.dat", "landmarks_predictor_path")


def test_a_landmark_file_that_is_not_a_dlib_model_is_a_config_error(tmp_path):
    import subprocess
    import sys

    from mask2face.errors import ConfigError
    from mask2face.faces import FaceFinder
    bad = tmp_path / "bad.dat"
    bad.write_text("not a model")
    with pytest.raises(ConfigError, match="not a dlib shape predictor model"):
        FaceFinder(landmarks_predictor_path=str(bad))
    (tmp_path / "c.json").write_text('{"faces": {"landmarks_predictor_path": "%s"}}' % bad)
    Image = pytest.importorskip("PIL.Image")
    Image.new("RGB", (64, 64)).save(tmp_path / "p.png")
    result = subprocess.run([sys.executable, "-m", "mask2face.faces", "p.png", "--config",
                             "c.json"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and "not a dlib shape predictor model" in result.stderr
    assert "Traceback" not in result.stderr


def test_crop_then_inverse_maps_points_back(sample_faces):
    for _, face in sample_faces.values():
        crop = face_crop(face.landmarks, 256)
        back = crop.to_photo(crop.to_crop(face.landmarks))
        assert np.abs(back - face.landmarks).max() < 0.5
        inside = crop.to_crop(face.landmarks)
        assert inside.min() > 0 and inside.max() < 256
        # Eye-levelled: both eye centres on one row.
        eyes = crop.to_crop(np.stack([face.landmarks[36:42].mean(0), face.landmarks[42:48].mean(0)]))
        assert abs(eyes[0, 1] - eyes[1, 1]) < 3.0


def test_crop_widened_and_lowered(sample_faces):
    from mask2face.landmarks import crop_frame
    _, face = sample_faces["grace_hopper"]
    plain, wide = face_crop(face.landmarks, 256), face_crop(face.landmarks, 256, widen=1.25, lower=0.1)
    centre = crop_frame(face.landmarks)[0]
    # The face's centre sits 0.1 of the crop higher; distances shrink by 1 / 1.25.
    assert np.allclose(plain.to_crop(centre[None])[0], [128.0, 128.0], atol=1e-6)
    assert np.allclose(wide.to_crop(centre[None])[0], [128.0, 128.0 - 25.6], atol=1e-6)
    eyes_plain, eyes_wide = plain.to_crop(face.eyes), wide.to_crop(face.eyes)
    assert np.linalg.norm(eyes_wide[1] - eyes_wide[0]) == pytest.approx(
        np.linalg.norm(eyes_plain[1] - eyes_plain[0]) / 1.25)
    assert abs(eyes_wide[0, 1] - eyes_wide[1, 1]) < 3.0  # still eye-levelled


def masked_photo(photo, face, seed=0, kind="surgical"):
    from mask2face.config import MasksConfig
    from mask2face.masks import apply_mask, spec_from_config
    rng = np.random.default_rng(seed)
    # Neat masks (mask_variety 0): the counts below were measured on them; real masks are
    # measured by benchmarks/faces.py --real.
    spec = spec_from_config(MasksConfig(mask_type=kind, mask_variety=0.0), rng)
    return apply_mask(photo, face.landmarks, spec, rng)[0]


@pytest.mark.parametrize("detector, least", [
    ("hog+mtcnn", 5), pytest.param("hog+mtcnn+cnn", 6, marks=pytest.mark.slow),  # dlib's CNN: 10 s
    ("blaze", 6), ("blaze>mtcnn", 6)])
def test_masked_faces_found_by_masked_face_detector(sample_faces, detector, least):
    finder = get_face_finder(detector=detector)
    eye = lambda lm: np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])  # noqa: E731
    found = 0
    for kind in ("surgical", "cloth", "n95"):
        for name, (photo, face) in sample_faces.items():
            faces = finder.find(masked_photo(photo, face, kind=kind))
            assert len(faces) <= 1, (name, kind)
            if not faces:
                continue
            found += 1
            inter = np.hypot(*(eye(face.landmarks)[1] - eye(face.landmarks)[0]))
            # The eyes stay where they are on the clean face: alignment holds under a mask.
            assert np.abs(eye(faces[0].landmarks) - eye(face.landmarks)).max() < 0.15 * inter
    assert found >= least


def test_verify_score_tells_faces_from_face_like_places(sample_faces, finder):
    from mask2face.faces import VERIFY_MIN_SCORE, Face
    for photo, face in sample_faces.values():
        assert finder.verify_score(photo, face) >= VERIFY_MIN_SCORE
    photo, face = sample_faces["astronaut"]
    # The same landmarks moved down onto the space suit: no face there.
    moved = Face(face.box, face.score, face.landmarks + np.array([0.0, 260.0], np.float32), "hog")
    assert finder.verify_score(photo, moved) < VERIFY_MIN_SCORE


# ------------------------------------------------------------------ BlazeFace and padding

REAL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "masked-real-dev"


def tight_crop(photo, face, top, bottom, side):
    """The face cut so that it fills the frame: shares of the box cut off the top (forehead),
    the bottom (negative: kept below the box) and each side."""
    x0, y0, x1, y1 = face.box
    w, h = x1 - x0, y1 - y0
    return np.ascontiguousarray(photo[int(y0 + top * h):int(y1 - bottom * h),
                                      int(x0 + side * w):int(x1 - side * w)])


def test_padding_finds_faces_that_fill_the_frame(sample_faces):
    from mask2face.faces import BlazeFace
    blaze = BlazeFace()
    for name, (photo, face) in sample_faces.items():
        masked = masked_photo(photo, face)
        unpadded = padded = 0
        for cut in ((0.15, -0.1, 0.0), (0.2, 0.0, 0.05), (0.25, 0.05, 0.1)):
            crop = tight_crop(masked, face, *cut)
            without = bool(blaze.detect(crop, pads=(0.0,)))
            found = blaze.detect(crop)
            assert found or not without, (name, cut)  # padding never loses a face
            unpadded, padded = unpadded + without, padded + bool(found)
            if found:
                eyes = found[0].eyes
                assert eyes[0, 0] < eyes[1, 0]  # image-left eye first
                assert eyes[:, 1].max() < crop.shape[0] * 0.6  # in the upper part of the crop
        assert padded > unpadded, name  # a close-up missed without a border is found with one


def test_a_low_scored_guess_is_kept_only_where_it_could_be_the_photos_subject(monkeypatch):
    """Where BlazeFace is sure of nothing, its best guess above BLAZE_FALLBACK_SCORE is kept only
    when it is at least BLAZE_FALLBACK_SIDE of the photo wide: a small unsure box is a patch of
    background more often than a face."""
    from mask2face.faces import BlazeFace
    from mask2face.faces.blaze import BLAZE_FALLBACK_SCORE, BLAZE_FALLBACK_SIDE, BLAZE_MIN_SCORE
    blaze = BlazeFace()
    image = np.full((200, 200, 3), 128, np.uint8)
    score = (BLAZE_FALLBACK_SCORE + BLAZE_MIN_SCORE) / 2
    for side, kept in ((0.8 * BLAZE_FALLBACK_SIDE * 200, False),
                       (1.2 * BLAZE_FALLBACK_SIDE * 200, True)):
        def run(model, image, centre, size, min_score, side=side):
            if min_score > score:
                return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2))
            return np.array([[20.0, 20.0, 20.0 + side, 20.0 + side]]), np.array([score]), \
                np.zeros((1, 6, 2))
        monkeypatch.setattr(blaze, "_run", run)
        assert len(blaze.detect(image)) == kept, side


def test_blaze_eyes_move_the_landmarks(sample_faces, photos):
    finder = get_face_finder(detector="blaze")
    for name, (photo, hog_face) in sample_faces.items():
        faces = finder.find(photos[name])
        assert len(faces) == 1 and faces[0].detector == "blaze"
        plausible(faces[0])
        inter = np.hypot(*(hog_face.eyes[1] - hog_face.eyes[0]))
        # BlazeFace's eyes and dlib's fitted ones agree on clean faces.
        assert np.abs(faces[0].eyes - hog_face.eyes).max() < 0.15 * inter
        # The detector's own eye points travel with the face (predict checks the fit by them).
        assert np.abs(faces[0].detector_eyes - hog_face.eyes).max() < 0.15 * inter


def test_align_to_eyes_is_a_similarity_onto_the_eyes(sample_faces):
    from mask2face.faces import align_to_eyes
    face = sample_faces["astronaut"][1]
    target = face.eyes @ np.array([[0.0, -1.0], [1.0, 0.0]]) * 1.5 + 40.0  # rotated, scaled
    moved = align_to_eyes(face.landmarks, target)
    eyes = np.stack([moved[36:42].mean(0), moved[42:48].mean(0)])
    assert np.allclose(eyes, target, atol=1e-3)
    # Distances between any two points all grow by the same factor.
    ratio = np.linalg.norm(moved[8] - moved[30]) / np.linalg.norm(face.landmarks[8] - face.landmarks[30])
    assert ratio == pytest.approx(1.5, rel=1e-4)


def test_doubtful_eyes_too_close_or_too_steep():
    from mask2face.faces.blaze import BLAZE_DOUBTFUL_EYES, doubtful_eyes
    box = (100.0, 100.0, 200.0, 200.0)
    closest, steepest = BLAZE_DOUBTFUL_EYES
    assert not doubtful_eyes(box, None)
    assert not doubtful_eyes(box, np.array([[128.0, 130.0], [172.0, 130.0]]))  # 0.44 apart, level
    assert doubtful_eyes(box, np.array([[148.0, 130.0], [152.0, 131.0]]))  # a few px apart
    gap = (closest + 0.02) * 100.0
    steep = np.radians(steepest + 5.0)
    assert doubtful_eyes(box, np.array([[120.0, 120.0],
                                        [120.0 + gap * np.cos(steep), 120.0 + gap * np.sin(steep)]]))
    shallow = np.radians(steepest - 5.0)
    assert not doubtful_eyes(box, np.array([[120.0, 120.0], [120.0 + gap * np.cos(shallow),
                                                             120.0 + gap * np.sin(shallow)]]))


def test_doubtful_blaze_face_takes_mtcnn_box(sample_faces, monkeypatch):
    """A BlazeFace box on the forehead with its eyes a few pixels apart (as it does on some
    masked close-ups) is replaced by MTCNN's face; a sound one is kept."""
    finder = get_face_finder(detector="blaze")
    photo, hog_face = sample_faces["grace_hopper"]  # MTCNN finds her masked face
    masked = masked_photo(photo, hog_face)
    assert [f.detector for f in finder.find(masked)] == ["blaze"]
    x0, y0, x1, y1 = hog_face.box
    w = x1 - x0
    forehead = (x0, y0 - 0.6 * w, x1, y0 + 0.4 * w)
    centre = np.array([(x0 + x1) / 2, y0 - 0.1 * w])
    bad_eyes = np.stack([centre - [3.0, 0.0], centre + [3.0, 1.0]])
    monkeypatch.setattr(finder.detector("blaze").blaze, "detect",
                        lambda image: [Detection(forehead, 0.6, "blaze", bad_eyes)])
    faces = finder.find(masked)
    assert len(faces) == 1 and faces[0].detector == "mtcnn"
    plausible(faces[0])
    inter = np.hypot(*(hog_face.eyes[1] - hog_face.eyes[0]))
    assert np.abs(faces[0].eyes - hog_face.eyes).max() < 0.2 * inter
    # With MTCNN finding nothing the doubtful box is all there is: it is kept.
    monkeypatch.setitem(finder._detectors, "mtcnn", lambda image, pad=0.0: [])
    assert [f.detector for f in finder.find(masked)] == ["blaze"]


def test_mtcnn_on_a_bordered_copy_reports_photo_pixels(sample_faces):
    finder = get_face_finder(detector="mtcnn")
    photo, hog_face = sample_faces["grace_hopper"]
    plain = finder.detector("mtcnn")(photo)
    bordered = finder.detector("mtcnn")(photo, 0.25)
    assert len(plain) == len(bordered) == 1
    width = plain[0].box[2] - plain[0].box[0]
    assert np.abs(np.subtract(plain[0].box, bordered[0].box)).max() < 0.1 * width


def test_detector_stages_fall_back_only_when_nothing_is_found(photos, monkeypatch):
    from mask2face.faces import parse_detector
    assert parse_detector("blaze>hog+mtcnn") == [["blaze"], ["hog", "mtcnn"]]
    assert parse_detector("auto") == [["hog"], ["mtcnn"]]
    with pytest.raises(Exception, match="unknown face detector"):
        parse_detector("blaze>nosuch")
    finder = get_face_finder()
    calls = []
    monkeypatch.setitem(finder._detectors, "mtcnn", lambda image: calls.append(1) or [])
    assert finder.detect(photos["astronaut"], "hog>mtcnn")
    assert not calls
    assert not finder.detect(np.zeros((200, 200, 3), np.uint8), "hog>mtcnn")
    assert calls == [1]


def test_config_detector_choices_all_parse():
    from mask2face.config import DETECTOR_CHOICES
    from mask2face.faces import parse_detector
    for name in DETECTOR_CHOICES:
        parse_detector(name)


def test_faces_command_json_crops_and_sheet(tmp_path, photos, capsys):
    import json
    from mask2face.faces.__main__ import main
    from mask2face.images import write_image
    folder = tmp_path / "photos"
    for name, photo in photos.items():
        write_image(folder / f"{name}.png", photo)
    (folder / "broken.jpg").write_bytes(b"not a photo")
    code = main([str(folder), "--json", "--crops", str(tmp_path / "crops"),
                 "--sheet", str(tmp_path / "sheet.png")])
    assert code == 1  # the broken file failed, the others were done
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["path"]).name for r in records] == ["astronaut.png", "broken.jpg",
                                                       "grace_hopper.png"]
    broken = records[1]
    assert broken["faces"] == [] and "broken.jpg" in broken["error"]
    for record in (records[0], records[2]):
        assert record["error"] is None and len(record["faces"]) == 1
        face = record["faces"][0]
        assert set(face) == {"box", "score", "detector", "eyes"}
        assert len(face["box"]) == 4 and np.array(face["eyes"]).shape == (2, 2)
    assert sorted(p.name for p in (tmp_path / "crops").iterdir()) == [
        "astronaut_0.png", "grace_hopper_0.png"]
    assert read_image(tmp_path / "sheet.png").shape[0] > 0


def test_faces_command_text_line_per_photo(tmp_path, photos, capsys):
    from mask2face.faces.__main__ import main
    from mask2face.images import write_image
    write_image(tmp_path / "a.png", photos["astronaut"])
    assert main([str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "1 face:" in out[0] and "blaze" in out[0]


@pytest.mark.skipif(not REAL.is_dir(), reason="real masked photos (../shared) not present")
def test_real_masked_photos_found():
    from mask2face.images import read_image
    finder = get_face_finder(detector="blaze>mtcnn")
    photos = sorted((REAL / "with_mask").iterdir())[:: 25]  # 20 photos across the set
    found = sum(bool(finder.find(read_image(p))) for p in photos)
    assert found >= 18
    clean = sorted((REAL / "without_mask").iterdir())[:: 15]
    assert all(len(finder.find(read_image(p))) == 1 for p in clean)


@pytest.mark.skipif(not REAL.is_dir(), reason="real masked photos (../shared) not present")
def test_blaze_eyes_on_real_bare_faces_are_never_doubtful():
    """The premise of BLAZE_DOUBTFUL_EYES: on real photos of people without masks, BlazeFace's
    eyes always lie well apart and near level within its box."""
    from mask2face.faces import BlazeFace, doubtful_eyes
    blaze = BlazeFace()
    photos = sorted((REAL / "without_mask").iterdir())[::3]
    faces = [blaze.detect(read_image(p))[:1] for p in photos]
    assert sum(map(len, faces)) >= 0.95 * len(photos)
    assert not [p.name for p, f in zip(photos, faces) if f and doubtful_eyes(f[0].box, f[0].eyes)]


def test_whole_photo_face_is_the_face_a_face_crop_holds(sample_faces, finder):
    """A photo that is a face's crop (a cropped dataset) and in which no detector finds the face,
    masked up to the eyes: ``whole_photo`` fits dlib's points where the face is, its eyes within
    a fifth of the eye distance of those fitted in the whole photo; a photo of another shape or
    size, or blank where the eyes would be, gives no face."""
    from mask2face.faces import WHOLE_PHOTO
    from mask2face.faces.finder import whole_photo_refusal
    for name, (photo, face) in sample_faces.items():
        crop = face_crop(face.landmarks, 200)
        for shown in (photo, masked_photo(photo, face)):
            guessed = finder.whole_photo(crop.apply(shown))
            assert guessed is not None and guessed.detector == WHOLE_PHOTO
            eyes = crop.to_crop(face.eyes)
            apart = np.hypot(*(eyes[1] - eyes[0]))
            assert np.hypot(*(guessed.eyes - eyes).T).max() < 0.2 * apart, name
            plausible(guessed)
    small = face_crop(face.landmarks, 150).apply(photo)
    wide = np.ascontiguousarray(np.hstack([small[:, :75], small]))  # 3:2
    larger = face_crop(face.landmarks, 300).apply(photo)  # larger than a cropped dataset's
    assert finder.whole_photo(wide) is None and "longer than" in whole_photo_refusal(wide)
    icon = face_crop(face.landmarks, 48).apply(photo)
    assert finder.whole_photo(icon) is None and whole_photo_refusal(icon) == "under 64 px"
    assert finder.whole_photo(larger) is None and whole_photo_refusal(larger) == "over 256 px"
    flat = np.random.default_rng(0).normal(120, 3, (200, 200, 3)).clip(0, 255).astype(np.uint8)
    for blank in (np.zeros((200, 200, 3), np.uint8), flat):  # black; grey with a little noise
        assert finder.whole_photo(blank) is None
        assert whole_photo_refusal(blank) == "blank where the eyes would be"


def test_landmarks_are_fitted_under_the_finders_lock(sample_faces, finder, monkeypatch):
    """dlib's shape predictor is not thread-safe: ``landmarks``, which predict also calls on
    its own to fit the eyes again on a result, holds the finder's lock while it fits, so a
    second thread (the web page's) cannot fit or detect at the same time."""
    import threading
    photo, face = next(iter(sample_faces.values()))
    predictor = finder._predictor
    taken_elsewhere = []

    def fit(image, rect):
        other = threading.Thread(
            target=lambda: taken_elsewhere.append(finder._lock.acquire(blocking=False)))
        other.start()
        other.join()
        return predictor(image, rect)

    monkeypatch.setattr(finder, "_predictor", fit)
    points = finder.landmarks(photo, face.box)
    assert taken_elsewhere == [False]
    assert np.abs(points - face.landmarks).max() < 30
