"""Model + test pairs -> ``metrics.json``, ``report.md`` and ``grid.png``:
``python -m mask2face.evaluate``.

PSNR, SSIM and L1 over the whole crop and inside the true mask region, the identity distance to
the clean face and the detail inside the mask (``mask2face.identity``), mask IoU when the model
predicts masks, and milliseconds per face; with two reference rows on the same pairs: the masked
input as it is, and OpenCV's Telea inpainting given the true mask; and the model's figures per
mask kind (from the pairs' manifest). SSIM is training's own (``mask2face.losses``: 11 px
Gaussian window); inside the mask it averages the SSIM map over the windows centred there.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

from mask2face.errors import UsageError
from mask2face.identity import SAME_PERSON, IdentityMeter, detail_ratio

if TYPE_CHECKING:
    from mask2face.predict import Unmasker

log = logging.getLogger(__name__)

PSNR_CAP_DB = 100.0  # identical images: PSNR is infinite; reported as this cap
GRID_ROWS = 6


def psnr(target: np.ndarray, output: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB of float images in [0, 1], optionally over the pixels ``where`` is true;
    capped at PSNR_CAP_DB."""
    diff = (target - output) ** 2
    if where is not None:
        if not where.any():
            return float("nan")
        diff = diff[where]
    mse = float(diff.mean())
    return PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else float(-10 * np.log10(mse))


def ssim(target: np.ndarray, output: np.ndarray, where: np.ndarray | None = None) -> float:
    """Mean SSIM of float RGB images in [0, 1] (training's definition), optionally over the
    windows centred inside ``where``."""
    import keras

    from mask2face.losses import SSIM_WINDOW, ssim_map

    full = keras.ops.convert_to_numpy(ssim_map(target[None].astype(np.float32),
                                               output[None].astype(np.float32)))[0].mean(axis=-1)
    if where is None:
        return float(full.mean())
    half = SSIM_WINDOW // 2
    inside = where[half:where.shape[0] - half, half:where.shape[1] - half]
    return float(full[inside].mean()) if inside.any() else float("nan")


def l1(target: np.ndarray, output: np.ndarray, where: np.ndarray | None = None) -> float:
    diff = np.abs(target - output)
    return float((diff[where] if where is not None else diff).mean())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def image_metrics(target: np.ndarray, output: np.ndarray, region: np.ndarray) -> dict:
    """Every image metric of one pair: whole crop and inside the mask region."""
    return {"psnr": psnr(target, output), "ssim": ssim(target, output), "l1": l1(target, output),
            "psnr_mask": psnr(target, output, region), "ssim_mask": ssim(target, output, region),
            "l1_mask": l1(target, output, region)}


def telea(masked: np.ndarray, region: np.ndarray) -> np.ndarray:
    """OpenCV's Telea inpainting of the true mask region (a classical reference)."""
    image = (masked * 255).round().astype(np.uint8)
    radius = max(3, masked.shape[0] // 40)
    return cv2.inpaint(image, region.astype(np.uint8) * 255, radius,
                       cv2.INPAINT_TELEA).astype(np.float32) / 255.0


def mask_family(kind: str) -> str:
    """The row of the per-kind table a mask kind belongs to: the procedural kinds by name,
    every MaskTheFace template together."""
    return "templates" if kind.startswith("template:") else kind


def _mean(rows: list[dict]) -> dict:
    keys = rows[0].keys()
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


def evaluate(unmasker: Unmasker, test_dir: str | Path, out_dir: str | Path,
             limit: int = 0, identity: bool = True) -> dict:
    """Evaluate a loaded ``Unmasker`` on the pairs of ``test_dir``; write the report files.

    ``identity`` adds dlib's identity distance to the clean face (median, and the share under
    the same-person line) for the model, the masked input and Telea; the detail inside the mask
    (result / clean, median) is always measured. Returns the metrics dictionary written to
    metrics.json.
    """
    from mask2face.images import read_image, write_image
    from mask2face.pairs import list_pairs, mask_kinds, photo_sources

    pairs = list_pairs(test_dir)
    count = min(limit, len(pairs)) if limit else len(pairs)
    kinds = mask_kinds(test_dir)
    sources = photo_sources(test_dir)
    by_source: dict[str, dict[str, list[float]]] = {}
    by_kind: dict[str, list[dict]] = {}
    size = unmasker.size
    rows = {"model": [], "masked input": [], "telea": []}
    ious, seconds, grid = [], 0.0, []

    def load(path, gray=False):
        image = read_image(path)
        if image.shape[0] != size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        return image[..., 0] > 127 if gray else image.astype(np.float32) / 255.0

    meter = IdentityMeter() if identity else None
    people = {name: [] for name in rows}   # identity distance to the clean face
    detail = {name: [] for name in rows}   # detail inside the mask, result / clean
    step = unmasker.config.predict.predict_batch_size
    for start in range(0, count, step):
        idx = range(start, min(start + step, count))
        masked = np.stack([load(pairs.inputs[i]) for i in idx])
        clean = np.stack([load(pairs.outputs[i]) for i in idx])
        regions = np.stack([load(pairs.masks[i], gray=True) for i in idx])
        # A model trained with face_outline sees each pair's face area in its hole, where
        # the pairs have them (python -m mask2face.face_areas); else a plain grey hole.
        faces = None if pairs.faces is None or not unmasker.config.training.face_outline \
            else np.stack([load(pairs.faces[i])[..., 0] for i in idx])
        began = time.perf_counter()
        outputs, predicted = unmasker.run_model(masked, faces=faces)
        seconds += time.perf_counter() - began
        for j in range(len(masked)):
            out = np.clip(outputs[j], 0, 1)
            inpainted = telea(masked[j], regions[j])
            rows["model"].append(image_metrics(clean[j], out, regions[j]))
            rows["masked input"].append(image_metrics(clean[j], masked[j], regions[j]))
            rows["telea"].append(image_metrics(clean[j], inpainted, regions[j]))
            kind = kinds.get(Path(pairs.inputs[idx[j]]).stem)
            if kind:
                telea_mask = rows["telea"][-1]["psnr_mask"]
                by_kind.setdefault(mask_family(kind), []).append(
                    {**rows["model"][-1], "telea_psnr_mask": telea_mask})
            versions = {"model": out, "masked input": masked[j], "telea": inpainted}
            for name, image in versions.items():
                detail[name].append(detail_ratio(clean[j], image, regions[j]))
            if meter is not None:
                for name, distance in meter.distances(clean[j], versions).items():
                    people[name].append(distance)
            source = sources.get(Path(pairs.inputs[idx[j]]).stem)
            if source:
                row = by_source.setdefault(source, {"psnr_mask": [], "detail_mask": [],
                                                    "identity_distance": [],
                                                    "masked_identity_distance": []})
                row["psnr_mask"].append(rows["model"][-1]["psnr_mask"])
                row["detail_mask"].append(detail["model"][-1])
                if meter is not None:
                    row["identity_distance"].append(people["model"][-1])
                    row["masked_identity_distance"].append(people["masked input"][-1])
            if predicted is not None:
                ious.append(iou(predicted[j] > 0.5, regions[j]))
            if len(grid) < GRID_ROWS:
                grid.append(np.hstack([masked[j], clean[j], out, inpainted]))
    if not count:
        raise UsageError(f"no test pairs in {test_dir}")
    metrics = {name: _mean(values) for name, values in rows.items()}
    for name in rows:
        metrics[name]["detail_mask"] = float(np.nanmedian(detail[name]))
        if people[name]:
            distances = np.array(people[name])
            metrics[name]["identity_distance"] = float(np.median(distances))
            metrics[name]["same_person"] = float(np.mean(distances < SAME_PERSON))
    if ious:
        metrics["model"]["mask_iou"] = float(np.mean(ious))
    metrics["model"]["ms_per_face"] = seconds / count * 1000
    metrics["pairs"] = count
    metrics["psnr_cap_db"] = PSNR_CAP_DB
    metrics["by_mask_kind"] = {kind: {**_mean(values), "pairs": len(values)}
                               for kind, values in sorted(by_kind.items())}
    metrics["by_source"] = {
        source: {"pairs": len(row["psnr_mask"]), "psnr_mask": float(np.mean(row["psnr_mask"])),
                 "detail_mask": float(np.nanmedian(row["detail_mask"])),
                 **({"identity_distance": float(np.median(row["identity_distance"])),
                     "same_person": float(np.mean(np.array(row["identity_distance"])
                                                  < SAME_PERSON)),
                     "masked_identity_distance": float(np.median(
                         row["masked_identity_distance"]))}
                    if row["identity_distance"] else {})}
        for source, row in sorted(by_source.items())}

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_image(out_dir / "grid.png", (np.vstack(grid) * 255).round().astype(np.uint8))
    (out_dir / "report.md").write_text(report_markdown(metrics, str(test_dir)))
    log.info("report written to %s", out_dir)
    return metrics


def report_markdown(metrics: dict, test_dir: str) -> str:
    lines = [
        "# mask2face evaluation", "",
        f"{metrics['pairs']} test pairs from `{test_dir}`. Higher PSNR and SSIM are better, "
        f"lower L1 is better. \"mask\" columns look only inside the true mask region, where the "
        f"model has to invent the face; the whole-crop figures include the untouched rest.", "",
        "| method | PSNR dB | SSIM | L1 | PSNR mask dB | SSIM mask | L1 mask |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"model": "mask2face model", "telea": "OpenCV Telea inpainting (given the true "
              "mask)", "masked input": "masked input, unchanged"}
    for name in ("model", "telea", "masked input"):
        m = metrics[name]
        label = labels[name]
        lines.append(f"| {label} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['l1']:.4f} | "
                     f"{m['psnr_mask']:.2f} | {m['ssim_mask']:.4f} | {m['l1_mask']:.4f} |")
    lines += ["", "What a person sees: the identity distance to the real face (dlib's "
              "face-recognition network, the clean face's landmarks for every version; under "
              f"{SAME_PERSON} = the same person) and the detail inside the mask (variance of "
              "the Laplacian, result / real face; 0 = flat, 1 = as sharp as the real face).",
              "", "| method | identity distance (median) | same person | detail in mask "
              "(median) |", "|---|---|---|---|"]
    for name in ("model", "telea", "masked input"):
        m = metrics[name]
        who = (f"{m['identity_distance']:.3f} | {m['same_person']:.1%}"
               if "identity_distance" in m else "not measured | not measured")
        lines.append(f"| {labels[name]} | {who} | {m['detail_mask']:.2f} |")
    if len(metrics.get("by_source", {})) > 1:
        lines += ["", "Per photo set (model):", "", "| photos | pairs | PSNR mask dB | detail in "
                  "mask | identity distance | same person | masked input's distance |",
                  "|---|---|---|---|---|---|---|"]
        for source, m in metrics["by_source"].items():
            who = (f"{m['identity_distance']:.3f} | {m['same_person']:.1%} | "
                   f"{m['masked_identity_distance']:.3f}" if "identity_distance" in m
                   else "| |")
            lines.append(f"| {source} | {m['pairs']} | {m['psnr_mask']:.2f} | "
                         f"{m['detail_mask']:.2f} | {who} |")
    model = metrics["model"]
    lines += ["", f"Model time: {model['ms_per_face']:.1f} ms per face (model only, batched)."]
    if "mask_iou" in model:
        lines.append(f"Predicted mask vs true mask: IoU {model['mask_iou']:.3f}.")
    if metrics.get("by_mask_kind"):
        lines += ["", "Per mask kind (model; Telea inside the mask for reference):", "",
                  "| mask kind | pairs | PSNR dB | SSIM | PSNR mask dB | SSIM mask | "
                  "Telea PSNR mask dB |", "|---|---|---|---|---|---|---|"]
        for kind, m in metrics["by_mask_kind"].items():
            lines.append(f"| {kind} | {m['pairs']} | {m['psnr']:.2f} | {m['ssim']:.4f} | "
                         f"{m['psnr_mask']:.2f} | {m['ssim_mask']:.4f} | "
                         f"{m['telea_psnr_mask']:.2f} |")
    lines += ["", f"PSNR of identical images is reported as {metrics['psnr_cap_db']:.0f} dB.", "",
              "![input | target | output | Telea](grid.png)", "",
              "Each row of `grid.png`: masked input | target | model output | Telea inpainting.",
              ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import add_config_argument, add_model_argument, make_parser, run_command
    from mask2face.config import load_config, predict_settings
    from mask2face.predict import Unmasker

    parser = make_parser("evaluate", "Measure a model on test pairs.")
    add_model_argument(parser)
    parser.add_argument("--data", metavar="DIR",
                        help="test pairs folder (default: <the run's pairs_path>/test)")
    parser.add_argument("-o", "--output", metavar="REPORT_DIR",
                        help="report folder (default: <test_results_dir>/<run name>)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N pairs")
    parser.add_argument("--no-identity", dest="identity", action="store_false",
                        help="skip the identity distance (dlib's recognition network, about "
                             "0.1 s a pair)")
    add_config_argument(parser)

    def command(args: argparse.Namespace) -> int:
        config = load_config(args.config)
        unmasker = Unmasker.load(config.predict.chosen_model(args.model),
                                 model_dir=config.training.model_dir,
                                 settings=predict_settings(config))
        run_config = unmasker.config
        test_dir = args.data or str(Path(run_config.data.pairs_path) / "test")
        run_name = unmasker.model_file.parent.name
        out = args.output or str(Path(config.predict.test_results_dir) / run_name)
        limit = args.limit if args.limit is not None else config.predict.test_data_limit
        metrics = evaluate(unmasker, test_dir, out, limit, args.identity)
        m = metrics["model"]
        summary = {"report": str(Path(out) / "report.md"), "psnr": round(m["psnr"], 2),
                   "ssim": round(m["ssim"], 4), "psnr_mask": round(m["psnr_mask"], 2),
                   "detail_mask": round(m["detail_mask"], 3)}
        if "identity_distance" in m:
            summary.update(identity_distance=round(m["identity_distance"], 3),
                           same_person=round(m["same_person"], 3))
        print(json.dumps(summary))
        return 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
