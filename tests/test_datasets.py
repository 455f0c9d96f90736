import hashlib
import io
import tarfile

import pytest

from mask2face.datasets import (Mirror, download_lfw, folder_photos, lfw_photos,
                                resolve_source)
from mask2face.errors import UsageError
from tests.helpers import make_people, serve


def lfw_tarball(path, folder="lfw-deepfunneled", extra=None):
    """A small LFW-shaped archive: folder/<person>/<person>_0001.jpg."""
    people = make_people(path.parent / "src", per_person=2, people=3, width=120)
    with tarfile.open(path, "w:gz") as tar:
        for photo in sorted(people.rglob("*.*")):
            tar.add(photo, arcname=f"{folder}/{photo.parent.name}/{photo.name}")
        if extra:
            extra(tar)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    md5 = lfw_tarball(served / "lfw-deepfunneled.tgz")
    return served, md5


def mirror(url, md5):
    return Mirror(f"{url}/lfw-deepfunneled.tgz", "lfw-deepfunneled.tgz", md5, "lfw-deepfunneled")


def test_lfw_downloads_verifies_and_unpacks(tmp_path, archive):
    served, md5 = archive
    with serve(served) as (url, _):
        photos = lfw_photos(tmp_path / "data", (mirror(url, md5),))
    assert len(photos) == 6 and {p.identity for p in photos} == {"person0", "person1", "person2"}
    assert not list((tmp_path / "data" / "lfw").glob(".unpack*"))
    # Second call: already there, no download.
    assert len(lfw_photos(tmp_path / "data", (mirror("http://127.0.0.1:9", md5),))) == 6


def test_bad_checksum_refused_then_next_mirror_used(tmp_path, archive):
    served, md5 = archive
    with serve(served) as (url, _):
        bad = Mirror(f"{url}/lfw-deepfunneled.tgz", "lfw-deepfunneled.tgz", "0" * 32,
                     "lfw-deepfunneled")
        folder = download_lfw(tmp_path / "lfw", (bad, mirror(url, md5)))
    assert folder.name == "lfw-deepfunneled" and len(folder_photos(folder)) == 6


def test_cut_download_resumes_with_range(tmp_path, archive):
    served, md5 = archive
    size = (served / "lfw-deepfunneled.tgz").stat().st_size
    target = tmp_path / "lfw"
    with serve(served, cut_after=size // 2) as (url, handler):
        with pytest.raises(UsageError):
            download_lfw(target, (mirror(url, md5),))
        part = target / "lfw-deepfunneled.tgz.part"
        assert part.exists() and 0 < part.stat().st_size < size
        download_lfw(target, (mirror(url, md5),))
    assert handler.requests[-1] == f"bytes={size // 2}-"
    assert len(folder_photos(target / "lfw-deepfunneled")) == 6


@pytest.mark.parametrize("evil", ["../escape.txt", "/abs.txt", "link"])
def test_tarball_escaping_the_target_refused(tmp_path, evil):
    served = tmp_path / "served"
    served.mkdir()

    def add_evil(tar):
        info = tarfile.TarInfo(evil)
        if evil == "link":
            info.name, info.type, info.linkname = "lfw-deepfunneled/link", tarfile.SYMTYPE, "../../.."
            tar.addfile(info)
        else:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    md5 = lfw_tarball(served / "lfw-deepfunneled.tgz", extra=add_evil)
    with serve(served) as (url, _):
        with pytest.raises(UsageError, match="outside the target|leaves the target"):
            download_lfw(tmp_path / "lfw", (mirror(url, md5),))
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "lfw" / "lfw-deepfunneled").exists()


def test_offline_says_what_to_download_and_where(tmp_path):
    dead = Mirror("http://127.0.0.1:9/lfw.tgz", "lfw-deepfunneled.tgz", "0" * 32, "lfw-deepfunneled")
    with pytest.raises(UsageError, match=r"download lfw-deepfunneled.tgz from .* and unpack it into"):
        lfw_photos(tmp_path, (dead,))


def test_celeba_official_layout_and_partition(tmp_path):
    root = tmp_path / "celeba"
    people = make_people(tmp_path / "src", per_person=2, people=2, width=178)
    (root / "img_align_celeba").mkdir(parents=True)
    partition, identity = [], []
    for i, photo in enumerate(sorted(people.rglob("*.*"))):
        name = f"{i + 1:06d}.jpg"
        (root / "img_align_celeba" / name).write_bytes(photo.read_bytes())
        partition.append(f"{name} {[0, 1, 2, 2][i]}")
        identity.append(f"{name} {10 + i // 2}")
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    (root / "identity_CelebA.txt").write_text("\n".join(identity) + "\n")
    photos = resolve_source(str(root), str(tmp_path))
    assert [p.split for p in photos] == ["train", "train", "test", "test"]
    assert [p.identity for p in photos] == ["10", "10", "11", "11"]


def test_celeba_missing_says_where_to_get_and_put_it(tmp_path):
    with pytest.raises(UsageError, match=r"missing img_align_celeba.*cannot be downloaded"):
        resolve_source("celeba", str(tmp_path))


def test_folder_source_any_case_and_empty(tmp_path):
    people = make_people(tmp_path / "people", per_person=3, people=2, width=100)
    photos = folder_photos(people)
    assert len(photos) == 6 and any(p.path.suffix == ".JPG" for p in photos)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no photos"):
        folder_photos(tmp_path / "empty")


def test_unpacked_lfw_is_used_without_network(tmp_path, monkeypatch):
    from mask2face import datasets
    folder = tmp_path / "data" / "lfw" / "lfw-deepfunneled"
    for person in ("Ada_Lovelace", "Alan_Turing"):
        (folder / person).mkdir(parents=True)
        for n in (1, 2):
            (folder / person / f"{person}_{n:04d}.jpg").write_bytes(b"\xff\xd8 not decoded here")

    def no_network(*args, **kwargs):
        raise AssertionError("the unpacked copy must be used without downloading")
    monkeypatch.setattr(datasets.urllib.request, "urlopen", no_network)
    photos = datasets.resolve_source("lfw", tmp_path / "data")
    assert len(photos) == 4 and {p.identity for p in photos} == {"Ada_Lovelace", "Alan_Turing"}
    # The same folder given as a path is a folder source with the same identities.
    assert [p.identity for p in datasets.resolve_source(str(folder), tmp_path / "x")] == \
        [p.identity for p in photos]


def test_flat_folder_photos_are_each_their_own_identity_and_sources_join_with_pathsep(tmp_path):
    import os

    from mask2face.config import load_config
    from mask2face.datasets import resolve_sources
    from mask2face.generate import plan
    people = make_people(tmp_path / "people", per_person=2, people=5, width=100)
    flat = tmp_path / "flat"
    flat.mkdir()
    for n, photo in enumerate(sorted(people.rglob("*.*"))):
        (flat / f"{n}_face{photo.suffix}").write_bytes(photo.read_bytes())
    assert [p.identity for p in folder_photos(flat)] == [f"{n}_face" for n in range(10)]
    sources = resolve_sources(f"{people}{os.pathsep}{flat}", str(tmp_path))
    assert [len(s) for s in sources] == [10, 10]
    with pytest.raises(UsageError, match="names no photos"):
        resolve_sources(os.pathsep, str(tmp_path))

    # Each source is split on its own: adding one leaves the other's test people as they were.
    def test_people(path):
        config = load_config(None, input_images_path=path, test_fraction=0.4)
        return {photo.identity for _, photo, split in plan(config) if split == "test"}
    alone = test_people(str(people))
    joined = test_people(f"{people}{os.pathsep}{flat}")
    assert alone and alone == {i for i in joined if i.startswith("person")}
    assert joined - alone  # and the flat folder's photos are split by photo


def test_photo_sources_name_the_photo_set_of_each_pair(tmp_path):
    import json

    from mask2face.pairs import photo_sources
    records = [{"id": "000001_0", "source": "x/lfw-deepfunneled/Ada/Ada_0001.jpg",
                "identity": "Ada"},
               {"id": "000002_0", "source": "x/utkface-train/30_1_2_2017.jpg",
                "identity": "30_1_2_2017"}]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert photo_sources(tmp_path / "test") == {"000001_0": "lfw-deepfunneled",
                                                "000002_0": "utkface-train"}
