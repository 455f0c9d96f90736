import json
from collections import Counter
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mask2face.config import load_config
from mask2face.generate import DataGenerator, generate
from tests.conftest import ROOT
from tests.helpers import make_people


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    root = make_people(tmp_path_factory.mktemp("photos") / "people", per_person=3, people=6)
    # Bad inputs among the good: no face, not an image, empty, truncated, tiny face, a giant.
    odd = root / "odd"
    odd.mkdir()
    Image.new("RGB", (200, 160), (90, 120, 150)).save(odd / "landscape.jpg")
    (odd / "notes.jpg").write_text("not a photo")
    (odd / "empty.png").write_bytes(b"")
    good = next(root.rglob("*.jpg")).read_bytes()
    (odd / "truncated.jpg").write_bytes(good[:len(good) // 3])
    Image.fromarray(np.asarray(Image.open(next(root.rglob("*.jpg"))).resize((40, 40)))).save(
        odd / "tiny.png")
    Image.new("RGB", (12000, 9000)).save(odd / "giant.png")
    # Two faces in one photo.
    a, b = [Image.open(p) for p in sorted(root.glob("person[01]/photo0.*"))]
    both = Image.new("RGB", (a.width + b.width, max(a.height, b.height)))
    both.paste(a, (0, 0))
    both.paste(b, (a.width, 0))
    both.save(root / "person0" / "together.png")
    return root


def config_for(photos, out, **extra):
    values = dict(input_images_path=str(photos), pairs_path=str(out), image_size=64,
                  train_image_count=100, test_image_count=100, test_fraction=0.3,
                  min_face_size=48, workers=1, max_image_pixels=50_000_000)
    values.update(extra)
    return load_config(ROOT / "configuration.json", **values)


def snapshot(out: Path) -> dict:
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}
    lines = sorted((out / "manifest.jsonl").read_text().splitlines())
    return {"files": files, "manifest": lines}


@pytest.fixture(scope="module")
def reference(people, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "pairs"
    summary = generate(config_for(people, out))
    return out, summary


def test_triples_with_identical_names_and_sizes(reference):
    out, summary = reference
    for split in ("train", "test"):
        names = [{p.name for p in (out / split / kind).glob("*.png")}
                 for kind in ("inputs", "outputs", "masks")]
        assert names[0] == names[1] == names[2] and names[0]
        for name in list(names[0])[:3]:
            inp, outp, mask = (np.asarray(Image.open(out / split / k / name))
                               for k in ("inputs", "outputs", "masks"))
            assert inp.shape == outp.shape == (64, 64, 3) and mask.shape == (64, 64)
            assert set(np.unique(mask)) <= {0, 255} and (mask > 0).mean() > 0.1
            # Masked and clean differ only within the region's 2-pixel anti-aliasing band.
            band = cv2.dilate(mask, np.ones((5, 5), np.uint8))
            assert np.array_equal(inp[band == 0], outp[band == 0])
    assert summary.pairs["train"] + summary.pairs["test"] == len(
        (out / "manifest.jsonl").read_text().splitlines())


def test_two_faces_give_two_pairs_and_bad_photos_are_listed(reference):
    out, _ = reference
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    together = [r for r in records if r["source"].endswith("together.png")]
    assert sorted(r["face"] for r in together) == [0, 1]
    skipped = (out / "skipped.csv").read_text()
    for name, reason in [("landscape.jpg", "no face"), ("notes.jpg", "not an image"),
                         ("empty.png", "empty file"), ("truncated.jpg", "cannot decode"),
                         ("giant.png", "over the limit"), ("tiny.png", "no face")]:
        line = next(line for line in skipped.splitlines() if name in line)
        assert reason in line


def test_split_is_identity_disjoint(reference):
    out, _ = reference
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    train = {r["identity"] for r in records if r["split"] == "train"}
    test = {r["identity"] for r in records if r["split"] == "test"}
    assert train and test and not train & test


def test_same_result_with_two_workers_and_counts_clamped(people, reference, tmp_path, caplog):
    out = tmp_path / "pairs"
    generate(config_for(people, out, workers=2))
    assert snapshot(out) == snapshot(reference[0])
    assert "asked for, only" in caplog.text


def test_killed_run_resumes_to_the_identical_result(people, reference, tmp_path):
    out = tmp_path / "pairs"
    config = tmp_path / "config.json"
    config_for(people, out).save(config)
    command = [sys.executable, "-m", "mask2face.generate", "--config", str(config), "-q"]
    process = subprocess.Popen(command, cwd=tmp_path)
    manifest = out / "manifest.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 3:
            break
        time.sleep(0.005)
    assert process.poll() is None, "finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = len(manifest.read_text().splitlines())
    assert done < len((reference[0] / "manifest.jsonl").read_text().splitlines())
    # Exit 1: the folder holds unreadable photos (listed in skipped.csv), the rest was done.
    assert subprocess.run(command, cwd=tmp_path).returncode == 1
    assert snapshot(out) == snapshot(reference[0])
    lines = manifest.read_text().splitlines()
    assert len(lines) == len(set(lines))  # nothing written twice


def test_torn_last_lines_are_dropped_and_their_photos_redone(people, reference, tmp_path):
    import shutil
    out = tmp_path / "pairs"
    shutil.copytree(reference[0], out)
    manifest, skipped = out / "manifest.jsonl", out / "skipped.csv"
    lines = manifest.read_text().splitlines(keepends=True)
    # A kill during the append: the last record half-written, its files already there.
    manifest.write_text("".join(lines[:-1]) + lines[-1][:len(lines[-1]) // 2])
    rows = skipped.read_text().splitlines(keepends=True)
    skipped.write_text("".join(rows[:-1]) + rows[-1][:5])
    generate(config_for(people, out))
    assert snapshot(out) == snapshot(reference[0])
    assert sorted(skipped.read_text().splitlines()) == sorted(
        (reference[0] / "skipped.csv").read_text().splitlines())


def test_other_settings_refused_overwrite_starts_over(people, reference, tmp_path):
    from mask2face.errors import UsageError
    out = tmp_path / "pairs"
    generate(config_for(people, out, train_image_count=2, test_image_count=1))
    with pytest.raises(UsageError, match=r"other settings: seed \(42 there, 7 now\)"):
        generate(config_for(people, out, seed=7, train_image_count=2, test_image_count=1))
    summary = generate(config_for(people, out, seed=7, train_image_count=2, test_image_count=1),
                       overwrite=True)
    assert summary.pairs == {"train": 2, "test": 1}
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 3


def test_unwritable_output_is_one_clear_error(people, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run([sys.executable, "-m", "mask2face.generate", "--input", str(people),
                             "--output", str(blocker / "pairs"), "-q"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "cannot write to" in result.stderr
    assert "Traceback" not in result.stderr


def test_article_api(people, reference):
    out, _ = reference
    generator = DataGenerator(config_for(people, out))
    inputs, outputs = generator.get_dataset_examples(3, test_dataset=True)
    assert len(inputs) == len(outputs) > 0
    assert all(Path(i).name == Path(o).name for i, o in zip(inputs, outputs))


@pytest.mark.slow
def test_face_like_patterns_are_skipped_not_paired(tmp_path):
    """In the demo's photo set HOG takes the astronaut's suit badge for a face in some photos."""
    from mask2face.demo import FULL, make_demo_photos
    photos = make_demo_photos(tmp_path / "photos", FULL)
    def run(verify):
        out = tmp_path / f"pairs-{verify}"
        generate(config_for(photos, out, verify_faces=verify, workers=2, image_size=64,
                            train_image_count=500, test_image_count=500, min_face_size=40))
        return out
    checked, unchecked = run(True), run(False)
    def pairs_per_photo(out):
        records = map(json.loads, (out / "manifest.jsonl").read_text().splitlines())
        return Counter(r["source"] for r in records)
    kept, everything = pairs_per_photo(checked), pairs_per_photo(unchecked)
    extra = [source for source in everything if everything[source] > kept[source]]
    assert extra
    # Each photo that gave more pairs without the check holds a face that fails it.
    from mask2face.faces import VERIFY_MIN_SCORE, get_face_finder
    from mask2face.images import read_image
    finder = get_face_finder()
    for source in extra:
        image = read_image(source)
        assert min(finder.verify_score(image, f) for f in finder.find(image)) < VERIFY_MIN_SCORE


def test_a_plain_script_without_main_guard_generates_with_workers(people, tmp_path):
    """Spawned workers must not run the user's script again (it used to restart them forever)."""
    script = tmp_path / "make_pairs.py"
    script.write_text(
        "from mask2face.config import load_config\n"
        "from mask2face.generate import DataGenerator\n"
        f"config = load_config(None, input_images_path={str(people)!r}, "
        f"pairs_path={str(tmp_path / 'pairs')!r}, image_size=64, workers=2, "
        "train_image_count=3, test_image_count=1, min_face_size=48)\n"
        "print('pairs', DataGenerator(config).generate_images().pairs)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("pairs") == 1  # the script ran once, not once per worker
    assert len((tmp_path / "pairs" / "manifest.jsonl").read_text().splitlines()) == 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_dead_worker_ends_the_run_with_a_clear_line_and_it_resumes(people, reference,
                                                                      tmp_path):
    import os
    out = tmp_path / "pairs"
    config = tmp_path / "config.json"
    config_for(people, out, workers=2).save(config)
    import signal
    import time
    command = [sys.executable, "-m", "mask2face.generate", "--config", str(config), "-q"]
    # A worker killed from outside (as the kernel kills one for memory) while it works.
    run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    deadline = time.time() + 120
    workers = []
    while len(workers) < 2 and time.time() < deadline:
        workers = [pid for pid in _children(run.pid)
                   if b"resource_tracker" not in open(f"/proc/{pid}/cmdline", "rb").read()]
        time.sleep(0.1)
    assert workers, "no worker started"
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = run.communicate(timeout=180)
    killed = subprocess.CompletedProcess(command, run.returncode, stdout, stderr)
    assert killed.returncode == 1, killed.stderr[-2000:]
    assert "worker process died" in killed.stderr and "run the same command again" in killed.stderr
    assert "Traceback" not in killed.stderr
    assert subprocess.run(command, cwd=tmp_path, timeout=180).returncode == 1  # unreadable ones
    assert snapshot(out) == snapshot(reference[0])


def _children(pid):
    """PIDs of the live processes whose parent is ``pid`` (Linux /proc)."""
    from pathlib import Path
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_generate_leaves_no_worker_running(people, tmp_path):
    import os
    import signal
    import time
    config = tmp_path / "config.json"
    config_for(people, tmp_path / "pairs", workers=2).save(config)
    run = subprocess.Popen([sys.executable, "-m", "mask2face.generate", "--config", str(config),
                            "-q"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_children(run.pid)) < 3 and time.time() < deadline:  # 2 workers + the tracker
        time.sleep(0.2)
    children = _children(run.pid)
    assert len(children) >= 3, "the workers did not start"
    time.sleep(1.0)  # the workers are past their start-up
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.time() + 20
    alive = children
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in children if os.path.exists(f"/proc/{pid}") and
                 open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    for pid in alive:  # leave nothing behind, whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"{len(alive)} of {len(children)} child processes outlived the command"


def test_missing_source_leaves_no_output_folder(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mask2face.generate", "--input",
                             str(tmp_path / "nowhere"), "--output", str(tmp_path / "pairs"), "-q"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "photo folder not found" in result.stderr
    assert not (tmp_path / "pairs").exists()


def test_exit_codes_unreadable_photos_are_1_faceless_ones_0_and_no_pairs_1(tmp_path):
    """0: done (photos without a usable face are skipped, not failed); 1: some photos could not
    be read, or no training pair at all; skipped.csv is named only when it exists."""
    photos = make_people(tmp_path / "ok", per_person=2, people=3)
    run = lambda folder, out: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "mask2face.generate", "--input", str(folder), "--output",
         str(out), "--image-size", "64", "--workers", "1"], capture_output=True, text=True,
        cwd=tmp_path, timeout=300)
    Image.new("RGB", (200, 160), (90, 120, 150)).save(photos / "person0" / "wall.jpg")
    done = run(photos, tmp_path / "a")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipped.csv" in done.stderr  # the wall has no face: listed, not failed
    (photos / "person1" / "notes.jpg").write_text("not a photo")
    failed = run(photos, tmp_path / "b")
    assert failed.returncode == 1 and "1 photo could not be used" in failed.stderr
    walls = tmp_path / "walls" / "nobody"
    walls.mkdir(parents=True)
    Image.new("RGB", (200, 160), (90, 120, 150)).save(walls / "wall.jpg")
    nothing = run(walls.parent, tmp_path / "c")
    assert nothing.returncode == 1 and "no training pairs were made" in nothing.stderr
    clean = tmp_path / "clean"
    from mask2face.images import sample_photos
    for name, photo in sample_photos().items():  # large, clear faces: nothing is skipped
        (clean / name).mkdir(parents=True)
        Image.fromarray(photo).save(clean / name / "a.png")
        Image.fromarray(photo[:, ::-1]).save(clean / name / "b.png")
    quiet = run(clean, tmp_path / "d")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert not (tmp_path / "d" / "skipped.csv").exists() and "skipped.csv" not in quiet.stderr
