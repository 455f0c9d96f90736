import json
import subprocess
import sys

import pytest

from mask2face.config import Config, load_config
from mask2face.errors import ConfigError
from tests.conftest import ROOT


def write(tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    return path


def test_defaults_and_shipped_file_agree():
    """configuration.json is the defaults written out (Config().save), every key in it: a key
    added to the code without it fails here."""
    assert load_config(ROOT / "configuration.json") == Config()
    shipped = (ROOT / "configuration.json").read_text()
    assert json.loads(shipped) == Config().to_dict(), \
        "regenerate it: python -c \"from mask2face.config import Config; " \
        "Config().save('configuration.json')\""


def test_json_overrides_default(tmp_path):
    config = load_config(write(tmp_path, '{"data": {"image_size": 128}}'))
    assert config.data.image_size == 128 and config.model.architecture == "resnet_d"


def test_misspelt_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError, match="mask_patter.*did you mean mask_pattern"):
        load_config(write(tmp_path, '{"masks": {"mask_patter": "dots"}}'))


def test_unknown_section_and_misplaced_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown section 'modle'; did you mean model"):
        load_config(write(tmp_path, '{"modle": {}}'))
    with pytest.raises(ConfigError, match="'epochs' belongs in section 'training'"):
        load_config(write(tmp_path, '{"model": {"epochs": 3}}'))


@pytest.mark.parametrize("text, message", [
    ('{"data": {"image_size": "big"}}', r"data.image_size = 'big': expected a whole number"),
    ('{"data": {"image_size": 8}}', r"data.image_size = 8: must be at least 32"),
    ('{"model": {"architecture": "vit"}}', r"expected one of resnet, resnet_d, plain"),
    ('{"model": {"filters": [8, -1]}}', r"positive whole numbers"),
    ('{"model": {"filters": [8, 16], "kernels": [3]}}', r"one kernel size per level"),
    ('{"masks": {"mask_color": "blue"}}', r"expected a colour like #1e90ff"),
    ('{"training": {"augment": 1}}', r"expected true or false"),
])
def test_wrong_values_name_key_and_value(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_malformed_and_missing_file(tmp_path):
    path = write(tmp_path, '{\n  "data": {\n    "image_size": 64,\n  }\n}')
    with pytest.raises(ConfigError, match=r"c.json:4:3: malformed JSON"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.json")
    deep = write(tmp_path, '{"data": ' + '{"a": ' * 5000 + "{}" + "}" * 5000 + "}")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(deep)


def test_flag_override_by_key_name():
    config = load_config(None, image_size=96, epochs=2, mask_type="n95")
    assert (config.data.image_size, config.training.epochs, config.masks.mask_type) == (96, 2, "n95")
    with pytest.raises(ConfigError, match="did you mean epochs"):
        load_config(None, epoch=2)


def test_readme_table_is_the_current_one():
    from mask2face.config import markdown_table
    assert markdown_table() in (ROOT / "docs" / "reference.md").read_text()


def test_config_command_exit_2_one_line(tmp_path):
    path = write(tmp_path, '{"masks": {"mask_patter": "dots"}}')
    result = subprocess.run([sys.executable, "-m", "mask2face.config", "--config", str(path)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "did you mean mask_pattern" in result.stderr
    ok = subprocess.run([sys.executable, "-m", "mask2face.config"], capture_output=True,
                        text=True, cwd=ROOT)
    assert ok.returncode == 0 and json.loads(ok.stdout)["data"]["image_size"] == 256


def test_help_does_not_import_tensorflow():
    code = ("import sys, mask2face.config, mask2face.faces, mask2face.masks; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_every_key_is_used_by_code():
    """Each key is read as an attribute somewhere outside config.py (``config.data.seed``,
    ``t.epochs``): a mention in a comment, a string or a keyword argument does not count."""
    import ast

    from mask2face.config import iter_keys
    read = set()
    for path in (ROOT / "mask2face").rglob("*.py"):
        if path.name == "config.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                read.add(node.attr)
    unused = [f.name for _, f, _ in iter_keys() if f.name not in read]
    assert not unused


@pytest.mark.parametrize("command", ["config", "generate", "train", "predict", "evaluate",
                                     "demo", "masks", "faces", "app"])
def test_help_is_fast_and_light(command):
    code = (f"import sys, runpy; sys.argv = ['x', '--help']\n"
            f"try:\n    runpy.run_module('mask2face.{command}', run_name='__main__')\n"
            f"except SystemExit:\n    pass\n"
            f"print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.stdout.strip().endswith("False"), result.stderr[-1000:]
    assert "usage: python -m mask2face." in result.stdout


@pytest.mark.parametrize("text", ['{"training": {"learning_rate": NaN}}',
                                  '{"predict": {"feather": Infinity}}',
                                  '{"masks": {"mask_pattern_weight": -Infinity}}'])
def test_nan_and_infinity_refused_naming_the_key(tmp_path, text):
    from mask2face.config import load_config
    from mask2face.errors import ConfigError
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="expected a finite number"):
        load_config(path)
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(None, learning_rate=float("nan"))


def test_one_mask2face_command_reaches_every_stage():
    from mask2face.__main__ import STAGES
    for stage in STAGES:
        result = subprocess.run([sys.executable, "-m", "mask2face", stage, "--help"],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0 and "usage:" in result.stdout, (stage, result.stderr[-500:])
    unknown = subprocess.run([sys.executable, "-m", "mask2face", "unmask"], capture_output=True,
                             text=True, cwd=ROOT)
    assert unknown.returncode == 2 and "unknown stage 'unmask'" in unknown.stderr


@pytest.mark.parametrize("masks, message", [
    ({"mask_type": "surgicl"}, "did you mean surgical"),
    ({"mask_pattern": "polka"}, "unknown pattern"),
    ({"mask_pattern": "plaidd"}, "did you mean plaid"),
])
def test_misspelt_mask_kind_or_pattern_fails_at_load(tmp_path, masks, message):
    import json as json_module
    from mask2face.config import load_config
    from mask2face.errors import ConfigError
    path = tmp_path / "c.json"
    path.write_text(json_module.dumps({"masks": masks}))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_mask_names_in_config_are_the_drawn_ones():
    from mask2face.config import MASK_KINDS, MASK_PATTERNS
    from mask2face.masks import KINDS, PATTERNS
    assert tuple(KINDS) == MASK_KINDS and tuple(PATTERNS) == MASK_PATTERNS


def test_model_and_loss_names_in_config_are_the_implemented_ones():
    """The configuration lists the names without importing Keras; the implementers own them."""
    from dataclasses import fields

    from mask2face.config import ModelConfig, TrainingConfig
    import importlib

    from mask2face.detectors import DETECTORS
    from mask2face.losses import IMAGE_LOSSES, MASK_LOSSES
    from mask2face.model import ARCHITECTURES

    def choices(section, key):
        return set(next(f for f in fields(section) if f.name == key).metadata["choices"])
    assert choices(ModelConfig, "architecture") == set(ARCHITECTURES)
    assert choices(TrainingConfig, "loss") == set(IMAGE_LOSSES)
    assert choices(TrainingConfig, "mask_loss") == set(MASK_LOSSES)
    assert all(callable(importlib.import_module(f"mask2face.faces.{d.module}").build)
               for d in DETECTORS.values())


def test_every_problem_in_a_file_is_reported_at_once(tmp_path):
    from mask2face.config import load_config
    from mask2face.errors import ConfigError
    path = tmp_path / "c.json"
    path.write_text('{"data": {"image_size": 4, "seed": "x"}, "training": {"epoch": 3},'
                    ' "masks": {"mask_type": "surgicl"}}')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: 4 problems: ")
    for part in ("data.image_size = 4", "data.seed", "did you mean epochs",
                 "did you mean surgical"):
        assert part in message, part


@pytest.mark.parametrize("key, value, message", [
    ("batch_size", 1_000_000, "at most 1024"), ("batch_size", 10 ** 12, "at most 1024"),
    ("filters", [100000, 100000], "each entry must be at most 4096"),
    ("kernels", [10001, 3], "each entry must be at most 31"),
    ("workers", 100000, "at most 256"), ("epochs", 10 ** 9, "at most 100000")])
def test_numbers_have_sane_bounds(key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, **{key: value})


def test_any_well_formed_detector_setting_is_accepted_everywhere():
    """The grammar is checked once (mask2face.detectors): 'blaze+cnn' works in the
    configuration as in faces (a closed list of 11 settings once refused it)."""
    assert load_config(None, predict_face_detector="blaze+cnn").predict.detector() == "blaze+cnn"
    assert load_config(None).predict.detector("hog") == "hog"
    with pytest.raises(ConfigError, match="unknown face detector 'blaze\\+foo'"):
        load_config(None, face_detector="blaze+foo")


def test_predict_settings_are_the_predict_keys_a_file_sets_off_their_defaults(tmp_path):
    """What predict sets over a model's own run settings: the predict keys the configuration
    sets to other than their defaults, not those that choose the model; the project's
    configuration.json (the defaults written out) sets none."""
    from mask2face.config import predict_settings
    config = load_config(write(tmp_path, '{"predict": {"feather": 0.05, "model": "latest", '
                                         '"whole_photo_face": false, "mirrored_head": true}, '
                                         '"data": {"image_size": 64}}'))
    assert predict_settings(config) == {"feather": 0.05, "whole_photo_face": False}
    assert predict_settings(load_config(ROOT / "configuration.json")) == {}
