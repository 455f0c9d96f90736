"""Where photos come from: any folder, LFW (downloads itself) and CelebA (official layout).

Each source gives a list of ``SourcePhoto`` records (photos to make pairs from, not to be
confused with ``images.Photo``, a photo as read): the file, the person's identity, and the split
when the dataset has an official one (CelebA).
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mask2face.errors import UsageError
from mask2face.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourcePhoto:
    path: Path
    identity: str
    split: str | None = None  # "train" / "test" when the dataset fixes it


@dataclass(frozen=True)
class Mirror:
    url: str
    filename: str
    md5: str
    folder: str  # the folder the archive unpacks to


LFW_MIRRORS = (
    Mirror("http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz", "lfw-deepfunneled.tgz",
           "68331da3eb755a505a502b5aacb3c201", "lfw-deepfunneled"),
    Mirror("https://ndownloader.figshare.com/files/5976015", "lfw-funneled.tgz",
           "1b42dfed7d15c9b2dd63d5e5840c86ad", "lfw_funneled"),
)
CELEBA_HELP = ("CelebA cannot be downloaded automatically: get img_align_celeba.zip, "
               "list_eval_partition.txt and identity_CelebA.txt from the CelebA page "
               "(mmlab.ie.cuhk.edu.hk/projects/CelebA.html) and place them as {root}/"
               "img_align_celeba/, {root}/list_eval_partition.txt, {root}/identity_CelebA.txt")


def folder_photos(root: str | Path) -> list[SourcePhoto]:
    """Every image under ``root`` (recursive, any letter case), identity = parent folder name;
    a photo lying in ``root`` itself has no person folder and is its own identity (its name), so
    a flat folder of faces (UTKFace, a scrape) is split by photo."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"photo folder not found: {root}")
    photos = [SourcePhoto(p, p.stem if p.parent == root else p.parent.name)
              for p in sorted(root.rglob("*"))
              if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
              and not p.name.startswith(".")]
    if not photos:
        raise UsageError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return photos


# ------------------------------------------------------------------------------- LFW

def lfw_photos(data_path: str | Path,
               mirrors: tuple[Mirror, ...] = LFW_MIRRORS) -> list[SourcePhoto]:
    """LFW's photos, one folder per person; downloaded into ``<data_path>/lfw`` when missing."""
    target = Path(data_path) / "lfw"
    for mirror in mirrors:
        if (target / mirror.folder).is_dir():
            return folder_photos(target / mirror.folder)
    return folder_photos(download_lfw(target, mirrors))


def download_lfw(target: Path, mirrors: tuple[Mirror, ...] = LFW_MIRRORS) -> Path:
    """Download and unpack LFW from the first mirror that works; return the photo folder.

    A partial download is resumed, the checksum is verified before anything is unpacked, and
    the archive is unpacked into a temporary folder and renamed into place.

    Raises:
        UsageError: no mirror worked; the message says what to download and where to put it.
    """
    target.mkdir(parents=True, exist_ok=True)
    problems = []
    for mirror in mirrors:
        archive = target / mirror.filename
        try:
            if not (archive.exists() and md5sum(archive) == mirror.md5):
                fetch(mirror.url, archive, mirror.md5)
            return extract_tar(archive, target, mirror.folder)
        except (OSError, urllib.error.URLError, ValueError) as e:
            problems.append(f"{mirror.url}: {getattr(e, 'reason', e)}")
            log.warning("LFW mirror failed: %s", problems[-1])
    first = mirrors[0]
    raise UsageError(f"LFW is not in {target} and no mirror could be reached "
                     f"({'; '.join(problems)}): download {first.filename} from {first.url} "
                     f"and unpack it into {target}/ (giving {target}/{first.folder}/)")


def md5sum(path: Path) -> str:
    from mask2face.modelfiles import file_digest
    return file_digest(path, "md5")


def fetch(url: str, destination: Path, md5: str, timeout: float = 30.0) -> None:
    """Download ``url`` to ``destination``: resumes ``<destination>.part``, shows progress,
    checks the md5 and renames atomically.

    Raises:
        ValueError: the checksum does not match (the partial file is removed).
    """
    part = destination.with_name(destination.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = have and response.status == 206
        if not resumed:
            have = 0
        total = response.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have, unit="B", unit_scale=True,
                desc=destination.name, disable=None) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))
                have += len(block)
    if total is not None and have < total:
        raise OSError(f"download cut off at {have} of {total} bytes; run again to resume")
    if md5sum(part) != md5:
        part.unlink()
        raise ValueError(f"checksum mismatch for {destination.name} (expected md5 {md5})")
    os.replace(part, destination)


def _safe_members(tar: tarfile.TarFile, target: Path):
    root = target.resolve()
    for member in tar.getmembers():
        path = (root / member.name).resolve()
        if Path(member.name).is_absolute() or ".." in Path(member.name).parts or \
                not path.is_relative_to(root):
            raise ValueError(f"refusing archive member outside the target: {member.name}")
        if member.issym() or member.islnk():
            link = (path.parent / member.linkname).resolve() if member.issym() else \
                (root / member.linkname).resolve()
            if not link.is_relative_to(root):
                raise ValueError(f"refusing link that leaves the target: {member.name} -> "
                                 f"{member.linkname}")
        if member.isdev():
            raise ValueError(f"refusing device file in archive: {member.name}")
        yield member


def extract_tar(archive: Path, target: Path, folder: str) -> Path:
    """Unpack ``archive`` safely; the unpacked ``folder`` appears in ``target`` atomically."""
    staging = target / f".unpack-{folder}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            members = list(_safe_members(tar, staging))
            options = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            tar.extractall(staging, members=members, **options)
        unpacked = staging / folder
        if not unpacked.is_dir():
            raise ValueError(f"{archive.name} does not contain {folder}/")
        os.replace(unpacked, target / folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / folder


# ------------------------------------------------------------------------------ CelebA

def celeba_photos(root: str | Path) -> list[SourcePhoto]:
    """CelebA in its official layout, with its own train/val/test partition (val joins train)."""
    root = Path(root)
    images = root / "img_align_celeba"
    partition_file, identity_file = root / "list_eval_partition.txt", root / "identity_CelebA.txt"
    missing = [p.name for p in (images, partition_file, identity_file) if not p.exists()]
    if missing:
        raise UsageError(f"CelebA incomplete in {root} (missing {', '.join(missing)}). "
                         + CELEBA_HELP.format(root=root))
    partition = dict(_two_columns(partition_file))
    identity = dict(_two_columns(identity_file))
    photos = []
    for name in sorted(partition):
        path = images / name
        if name not in identity:
            raise UsageError(f"{identity_file}: no identity for {name}")
        split = "test" if partition[name] == "2" else "train"
        photos.append(SourcePhoto(path, identity[name], split))
    return photos


def _two_columns(path: Path):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise UsageError(f"{path}:{number}: expected 'file value', got {line!r}")
        yield parts[0], parts[1]


def resolve_sources(input_images_path: str, data_path: str) -> list[list[SourcePhoto]]:
    """The photos of each source that ``input_images_path`` names, several joined by
    ``os.pathsep`` (``lfw-deepfunneled:utkface-train``)."""
    names = [name for name in input_images_path.split(os.pathsep) if name]
    if not names:
        raise UsageError("input_images_path names no photos")
    return [resolve_source(name, data_path) for name in names]


def resolve_source(input_images_path: str, data_path: str) -> list[SourcePhoto]:
    """The photos of one source: 'lfw', 'celeba', a CelebA folder, or any folder."""
    if input_images_path == "lfw":
        return lfw_photos(data_path)
    if input_images_path == "celeba":
        return celeba_photos(Path(data_path) / "celeba")
    path = Path(input_images_path).expanduser()
    if (path / "list_eval_partition.txt").exists():
        return celeba_photos(path)
    return folder_photos(path)
