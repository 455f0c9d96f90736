"""Pairs -> a trained model: ``python -m mask2face.train``.

A run folder (``models/<timestamp>/`` or ``--model-dir``) gets ``model.keras`` (the best epoch),
``config.json`` (the resolved configuration: prediction rebuilds from it), ``history.csv``,
TensorBoard ``logs/``, and a ``previews/epoch_NNN.png`` each epoch. A run killed at any moment
continues from its last finished epoch with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from mask2face.cli import installed
from mask2face.config import Config, load_config
from mask2face.errors import ConfigError, UsageError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from mask2face.pairs import PairSet

log = logging.getLogger(__name__)

# Adam's steps are clipped to this global gradient norm: a healthy step is far below it, and it
# stops the rare spike that sent a 128 px LFW run at learning rate 1e-3 to NaN-like losses in
# its first epoch.
GRADIENT_CLIP_NORM = 1.0


def gpu_available() -> bool:
    """Whether the Keras backend in use sees a GPU."""
    import keras

    if keras.backend.backend() == "jax":
        import jax
        return any(d.platform == "gpu" for d in jax.devices())
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))


def choose_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirrored with TF_CONFIG, Mirrored on several GPUs, else the default one.
    Other backends than TensorFlow train on one device: a scope that does nothing."""
    import contextlib

    import keras
    if keras.backend.backend() != "tensorflow":
        class OneDevice:
            num_replicas_in_sync = 1

            def scope(self):
                return contextlib.nullcontext()
        return OneDevice()
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def cpu_supports_bfloat16() -> bool:
    """True where the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def set_precision(mode: str) -> str:
    """Apply the mixed-precision policy; returns the policy's name.

    auto: float16 on a GPU, float32 elsewhere. float16 / bfloat16: forced. off: float32.
    """
    import keras

    policy = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}.get(mode)
    gpu = gpu_available()
    if mode == "auto":
        policy = "mixed_float16" if gpu else "float32"
    if policy == "mixed_bfloat16" and not gpu and not cpu_supports_bfloat16():
        log.warning("this CPU has no native bfloat16: mixed_bfloat16 will be slow")
    keras.mixed_precision.set_global_policy(policy)
    return policy


def new_run_dir(model_dir: str) -> Path:
    """A new ``<model_dir>/<timestamp>[-n]`` folder, made here: two runs started in the same
    second each get their own (the folder is claimed by creating it)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    for suffix in range(10000):
        run = Path(model_dir) / (f"{stamp}-{suffix}" if suffix else stamp)
        try:
            run.mkdir()
            return run
        except FileExistsError:
            continue
    raise UsageError(f"{model_dir} has no free run name for {stamp}")


def _remove_unstarted(run: Path) -> None:
    """After a failed start: remove a run folder made by this run that holds no finished epoch
    (no model, history or backup), so that it does not then demand --resume."""
    import shutil
    if any((run / name).exists() for name in ("model.keras", "history.csv", "backup")):
        return
    shutil.rmtree(run, ignore_errors=True)


def _backup_options() -> dict:
    """Keep the previous backup beside the latest one where Keras can (3.6 and later): a kill
    while the latest is written leaves a cut-off file, and resuming falls back to the previous."""
    import inspect

    import keras
    parameters = inspect.signature(keras.callbacks.BackupAndRestore).parameters
    return {"double_checkpoint": True} if "double_checkpoint" in parameters else {}


def _whole_hdf5(path: Path) -> bool:
    import h5py
    return path.exists() and path.stat().st_size > 0 and h5py.is_hdf5(path)


def _backup_epoch(backup: Path) -> int:
    """The epoch a resumed run starts from: the latest backup's, or the previous one's where a
    kill cut the latest off (as Keras falls back to it); 0 with neither."""
    latest = backup / "latest.weights.h5"
    for weights, metadata in ((latest, "training_metadata.json"),
                              (latest.with_name(latest.name + ".bkp"),
                               "training_metadata.json.bkp")):
        if _whole_hdf5(weights):
            try:
                return int(json.loads((backup / metadata).read_text())["epoch"])
            except (OSError, ValueError, KeyError):
                return 0
    return 0


def _drop_cut_off_backup(backup: Path) -> None:
    """A backup whose weights a kill cut off, with no whole previous one to fall back to, is
    removed: the run then starts again from its first epoch instead of failing."""
    latest = backup / "latest.weights.h5"
    if latest.exists() and not _whole_hdf5(latest) and \
            not _whole_hdf5(latest.with_name(latest.name + ".bkp")):
        log.warning("%s was cut off by a kill and has no earlier copy: training starts again "
                    "from the first epoch (the best model so far is kept)", latest)
        for path in backup.iterdir():
            path.unlink()


def _finished(run: Path) -> bool:
    """Whether a folder holds a finished run (or a model copied there): a model or epochs in its
    history, and no backup left. A run killed before its first epoch ended has neither; one
    killed later has a backup."""
    if (run / "backup").exists():
        return False
    history = run / "history.csv"
    epochs = history.exists() and any(line.strip()
                                       for line in history.read_text().splitlines()[1:])
    return epochs or (run / "model.keras").exists()


def _trim_history(run: Path) -> None:
    """Drop history rows of epochs the backup does not hold: they are trained again."""
    import csv

    history = run / "history.csv"
    if not history.exists():
        return
    done = _backup_epoch(run / "backup")
    with open(history, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    kept = [rows[0]] + [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) < done]
    if len(kept) != len(rows):
        import io

        from mask2face.images import atomic_write
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        atomic_write(history, buffer.getvalue().encode())


def _start_from(model, source: str) -> None:
    """Copy the weights of another model of the same setting into ``model`` (fine-tuning)."""
    from mask2face.modelfiles import ONNX_FILE, find_model, load_model
    model_file, _ = find_model(source, keras_only=True, missing_ok=True)
    if model_file.exists() or not (model_file.parent / ONNX_FILE).exists():
        other = load_model(model_file)
        theirs, count = other.get_weights(), other.count_params()
    else:  # an installed package ships the network as its export alone
        from mask2face.export import weights_from_onnx
        model_file = model_file.parent / ONNX_FILE
        theirs = weights_from_onnx(model, model_file)
        count = sum(w.size for w in theirs) if theirs else 0
    mine = model.get_weights()
    if theirs is None or [w.shape for w in mine] != [w.shape for w in theirs]:
        raise ConfigError(f"init_from = {source!r}: its model has another setting "
                          f"({count:,} parameters, this run's {model.count_params():,}); use "
                          f"the same architecture, filters, kernels and mask head")
    model.set_weights(theirs)
    log.info("weights from %s", model_file)


def open_run(config: Config, run_dir: str | Path | None, resume: bool) -> tuple[Config, Path]:
    """The run's configuration and folder: a resumed run's own config.json, or a new folder.

    Raises:
        UsageError: nothing to resume, or a new run into a folder that holds one.
    """
    if resume:
        if run_dir is None:
            raise UsageError("--resume needs --model-dir: the run folder to continue")
        run = Path(run_dir)
        saved = run / "config.json"
        if not saved.exists():
            raise UsageError(f"nothing to resume in {run}: no config.json")
        if _finished(run):
            # Keras removes the backup once the last epoch is done: resuming would train again
            # from new weights and write over the run's history.
            raise UsageError(f"{run} has finished its epochs (or holds a model without a "
                             f"backup): nothing to resume; to train it further, start a new run "
                             f"from its model: --init-from {run}")
        return load_config(saved), run
    run = Path(run_dir) if run_dir else new_run_dir(config.training.model_dir)
    if (run / "config.json").exists():
        raise UsageError(f"{run} already holds a run: continue it with --resume, or choose "
                         f"another --model-dir")
    return config, run


def training_pairs(config: Config) -> tuple["PairSet", "PairSet | None"]:
    """The training pairs, split into training and validation identities."""
    from mask2face.augmentation import pair_image_size, split_validation
    from mask2face.pairs import list_pairs

    t = config.training
    pairs = list_pairs(Path(config.data.pairs_path) / "train")
    if t.train_data_limit:
        pairs = pairs.subset(range(min(t.train_data_limit, len(pairs))))
    pairs_size, size = pair_image_size(pairs), config.data.image_size
    if pairs_size != size:
        log.warning("pairs are %d px, image_size is %d: resizing while loading", pairs_size, size)
    return split_validation(pairs, t.validation_fraction, config.data.seed)


def numpy_pipeline(config: Config) -> bool:
    """Whether the run's batches come from ``mask2face.numpy_pipeline`` (NumPy and OpenCV)
    rather than ``tf.data``: ``training.data_pipeline``, where "auto" takes tf.data wherever
    TensorFlow is installed."""
    choice = config.training.data_pipeline
    if choice == "tensorflow" and not installed("tensorflow"):
        raise UsageError("training.data_pipeline is 'tensorflow' but TensorFlow is not "
                         "installed: set it to 'numpy' or 'auto', or pip install "
                         "'mask2face[train]'")
    return choice == "numpy" or (choice == "auto" and not installed("tensorflow"))


def datasets(config: Config, train_pairs: "PairSet", val_pairs: "PairSet | None",
             batch: int) -> tuple:
    """The training dataset (shuffled, augmented, some pairs shown unmasked) and the
    validation one (None without validation pairs), from tf.data or the NumPy pipeline
    (``numpy_pipeline``)."""
    t, size, mask_head = config.training, config.data.image_size, config.model.mask_head
    options = dict(unmasked_share=t.unmasked_share if mask_head else 0.0,
                   hole_share=t.hole_share if mask_head else 0.0, hole_spread=t.hole_spread,
                   face_outline=t.face_outline, zoom_share=t.zoom_share)
    if numpy_pipeline(config):
        from mask2face.augmentation import eye_row
        from mask2face.numpy_pipeline import pair_batches
        train_ds = pair_batches(train_pairs, size, batch, training=True, mask_head=mask_head,
                                augment_pairs=t.augment, seed=config.data.seed,
                                surroundings=t.hole_surroundings,
                                eyes_row=eye_row(config.data.crop_margin), **options)
        val_ds = pair_batches(val_pairs, size, batch, training=False, mask_head=mask_head) \
            if val_pairs else None
        return train_ds, val_ds
    from mask2face.data import make_dataset
    train_ds = make_dataset(train_pairs, size, batch, training=True, mask_head=mask_head,
                            augment=t.augment, seed=config.data.seed,
                            hole_surroundings=t.hole_surroundings,
                            crop_margin=config.data.crop_margin, **options)
    val_ds = make_dataset(val_pairs, size, batch, training=False, mask_head=mask_head) \
        if val_pairs else None
    return train_ds, val_ds


def uses_critics(config: Config) -> bool:
    """Whether the run trains with a discriminator, dlib's recognition network or the texture
    term (all in a ``CriticTraining``)."""
    t = config.training
    return bool(t.adversarial_weight or t.feature_matching_weight or t.identity_weight
                or t.perceptual_weight or t.texture_weight)


def compiled_model(config: Config, steps: int) -> keras.Model:
    """The model of the configuration, compiled with its losses, metrics and optimizer (Adam,
    gradient norm clipped, constant or cosine learning rate over ``steps``); with a weight on
    a critic's term, the generator inside a ``CriticTraining`` with its discriminator and dlib's
    recognition network (``adversarial.generator_of`` gives the generator back)."""
    import keras

    from mask2face.losses import IMAGE_METRICS, MASK_METRICS, make_image_loss, make_mask_loss
    from mask2face.model import model_from_config

    t = config.training
    model = model_from_config(config, config.data.image_size)
    rate = t.learning_rate if t.lr_schedule == "constant" else \
        keras.optimizers.schedules.CosineDecay(t.learning_rate, steps)
    image_loss = make_image_loss(t.loss, t.l1_weight)
    if config.model.mask_head:
        loss = {"image": image_loss, "mask": make_mask_loss(t.mask_loss)}
        weights = {"image": 1.0, "mask": t.mask_loss_weight}
        metrics = {"image": list(IMAGE_METRICS), "mask": list(MASK_METRICS)}
    else:
        loss, weights, metrics = image_loss, None, list(IMAGE_METRICS)
    if uses_critics(config):
        from mask2face.adversarial import CriticTraining, make_discriminator
        from mask2face.dlib_resnet import make_dlib_resnet
        adversarial = t.adversarial_weight or t.feature_matching_weight
        face = t.identity_weight or t.perceptual_weight
        model = CriticTraining(
            model, make_discriminator(config.data.image_size) if adversarial else None,
            t.adversarial_weight, t.feature_matching_weight,
            make_dlib_resnet(t.recognition_weights or None, features=True) if face else None,
            t.identity_weight, t.perceptual_weight, t.face_terms_blur, t.texture_weight)
    # On JAX the step is always compiled: uncompiled it runs op by op, 1.8 times as long an
    # epoch on the shipped setting here (docs/model.md, "Training without TensorFlow").
    jit = t.jit_compile or keras.backend.backend() == "jax"
    model.compile(optimizer=keras.optimizers.Adam(rate, clipnorm=GRADIENT_CLIP_NORM),
                  loss=loss, loss_weights=weights, metrics=metrics, jit_compile=jit)
    return model


def run_callbacks(run: Path, config: Config, monitor: str | None, resume: bool,
                  preview_pairs: "PairSet", log_every: int) -> list:
    """The run's callbacks: history, best model, backup (resume), early stopping, NaN guard,
    TensorBoard, previews and the epoch lines. With ``monitor`` None the latest epoch is the
    model and nothing stops early."""
    import keras

    from mask2face.callbacks import BestCheckpoint, EpochLine, Preview
    t = config.training
    if resume:
        _drop_cut_off_backup(run / "backup")
        _trim_history(run)
    # The history row is written before the backup that marks its epoch done: a kill between
    # the two redoes that epoch, and _trim_history drops the row it will write again.
    callbacks = [
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=resume),
        BestCheckpoint(run, monitor),
        keras.callbacks.BackupAndRestore(str(run / "backup"), **_backup_options()),
        keras.callbacks.TerminateOnNaN(),
    ]
    if installed("tensorflow"):  # Keras writes TensorBoard's logs with TensorFlow
        callbacks.append(keras.callbacks.TensorBoard(str(run / "logs"), write_graph=False))
    if monitor:
        callbacks.insert(3, keras.callbacks.EarlyStopping(
            monitor=monitor, patience=t.early_stopping_patience, restore_best_weights=True))
    if t.preview_count:
        if numpy_pipeline(config):
            from mask2face.numpy_pipeline import load_batch
        else:
            from mask2face.data import load_batch
        masked, clean, _ = load_batch(preview_pairs, config.data.image_size, t.preview_count)
        callbacks.append(Preview(run, masked, clean))
    return callbacks + [EpochLine(t.epochs, log_every)]


def train(config: Config, run_dir: str | Path | None = None, resume: bool = False,
          extra_callbacks: Sequence = (), log_every: int = 1) -> Path:
    """Train a model on ``<pairs_path>/train``; returns the run folder.

    Args:
        config: the resolved configuration (saved as the run's config.json).
        run_dir: the run folder; None makes ``<model_dir>/<timestamp>``.
        resume: continue the run in ``run_dir`` from its last finished epoch.
        extra_callbacks: more Keras callbacks (after the run's own).
        log_every: log a short line every this many epochs.

    Raises:
        UsageError: no pairs, or nothing to resume.
        ConfigError: ``init_from`` names a model of another setting.
    """
    # A folder of its own: none given, or an empty one (the command names a new run's folder
    # before it starts, so that Ctrl-C can say which one to resume).
    fresh = not resume and (run_dir is None or not Path(run_dir).exists()
                            or not any(Path(run_dir).iterdir()))
    config, run = open_run(config, run_dir, resume)
    try:
        return _train_in(config, run, resume, extra_callbacks, log_every)
    except Exception as e:  # not Ctrl-C: its hint is to resume the run
        if fresh:
            _remove_unstarted(run)
        if type(e).__name__ == "ResourceExhaustedError" or isinstance(e, MemoryError):
            raise UsageError(f"out of memory with batch_size {config.training.batch_size} at "
                             f"{config.data.image_size} px: choose a smaller batch_size") \
                from None
        raise


def _train_in(config: Config, run: Path, resume: bool, extra_callbacks: Sequence,
              log_every: int) -> Path:
    from mask2face.adversarial import generator_of
    from mask2face.model import forward_flops
    from mask2face.parallel import folder_lock

    t = config.training
    train_pairs, val_pairs = training_pairs(config)
    with folder_lock(run):  # a second run into this folder stops, naming this process
        policy = set_precision(t.mixed_precision)
        strategy = choose_strategy()
        log.info("run %s: %d training pairs, %d validation pairs, %s, %s, %d replica(s)", run,
                 len(train_pairs), len(val_pairs or []), config.model.architecture, policy,
                 strategy.num_replicas_in_sync)
        batch = t.batch_size * strategy.num_replicas_in_sync
        train_ds, val_ds = datasets(config, train_pairs, val_pairs, batch)
        with strategy.scope():
            model = compiled_model(config, max(1, -(-len(train_pairs) // batch)) * t.epochs)
        generator = generator_of(model)  # the network saved as model.keras
        if t.init_from and not resume:  # a resumed run restores its own weights
            _start_from(generator, t.init_from)
        # Saved once the model is built: a setting that cannot be built leaves no run behind.
        config.save(run / "config.json")
        log.info("model: %.2fM parameters, %.1f GFLOP per image forward",
                 generator.count_params() / 1e6, forward_flops(generator) / 1e9)
        # A run with critics keeps its latest epoch: the reconstruction loss, which is lowest
        # for the blurred average face, is not what it is trained to get better at.
        monitor = None if uses_critics(config) else "val_loss" if val_ds is not None else "loss"
        callbacks = run_callbacks(run, config, monitor, resume, val_pairs or train_pairs,
                                  log_every)
        model.fit(train_ds, validation_data=val_ds, epochs=t.epochs,
                  shuffle=False,  # the pipeline shuffles
                  callbacks=callbacks + list(extra_callbacks), verbose=0)
        if not (run / "model.keras").exists():  # e.g. every epoch's loss was NaN
            raise UsageError(f"training produced no model in {run} (see history.csv)")
        log.info("run written to %s", run)
        return run


def export_run(run: str | Path, target: str | Path) -> Path:
    """Copy a run's best model without its optimizer state (a third of the size), and its
    config.json, into ``target``: a model folder that predict and evaluate take."""
    import keras

    from mask2face.modelfiles import find_model, load_model
    model_file, config_file = find_model(run, keras_only=True)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    model = load_model(model_file)  # compile=False: no optimizer, no training losses
    model.save(target / "model.keras")
    (target / "config.json").write_text(config_file.read_text())
    keras.backend.clear_session()
    return target


def main(argv: Sequence[str] | None = None) -> int:
    from mask2face.cli import add_config_argument, make_parser, overrides, run_command

    parser = make_parser("train", "Train the mask-removal model on pairs.")
    add_config_argument(parser)
    parser.add_argument("--data", dest="pairs_path", metavar="DIR",
                        help="pairs folder (holding train/)")
    parser.add_argument("--model-dir", metavar="DIR",
                        help="the run folder (default: <model_dir>/<timestamp>)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", dest="batch_size", type=int)
    parser.add_argument("--learning-rate", dest="learning_rate", type=float)
    parser.add_argument("--architecture", help="resnet (published), resnet_d or plain")
    parser.add_argument("--filters", type=int, nargs="+")
    parser.add_argument("--kernels", type=int, nargs="+")
    parser.add_argument("--loss", help="ssim_l1, ssim, l1 or mse")
    parser.add_argument("--image-size", dest="image_size", type=int)
    parser.add_argument("--mixed-precision", dest="mixed_precision",
                        help="auto, off, float16 or bfloat16")
    parser.add_argument("--jit-compile", dest="jit_compile", action="store_true", default=None,
                        help="compile the training step with XLA")
    parser.add_argument("--init-from", dest="init_from", metavar="MODEL",
                        help="fine-tune: start from this model's weights ('bundled' = the "
                             "shipped model)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --model-dir from its last finished epoch")
    parser.add_argument("--export", nargs=2, metavar=("RUN", "DIR"),
                        help="copy a run's best model without optimizer state into DIR, and stop")
    keys = ["pairs_path", "epochs", "batch_size", "learning_rate", "architecture", "filters",
            "kernels", "loss", "image_size", "mixed_precision", "jit_compile", "init_from"]

    def command(args: argparse.Namespace) -> int:
        if args.export:
            print(json.dumps({"exported": str(export_run(*args.export))}))
            return 0
        config = load_config(args.config, **overrides(args, keys))
        if args.resume and any(getattr(args, k) is not None for k in keys):
            log.warning("--resume uses the run's own config.json; other flags are ignored")
        run_dir = Path(args.model_dir) if args.model_dir else \
            new_run_dir(config.training.model_dir)
        args.interrupt_hint = (f"continue with: python -m mask2face.train --model-dir "
                               f"{run_dir} --resume")
        run = train(config, run_dir, resume=args.resume)
        print(json.dumps({"run": str(run)}))
        return 0

    return run_command(parser, command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
