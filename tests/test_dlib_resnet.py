"""dlib's recognition ResNet rebuilt in Keras: the same descriptors as dlib, and usable as a loss."""

import numpy as np
import pytest

from mask2face.errors import ModelFileError


@pytest.fixture(scope="module")
def port():
    from mask2face.dlib_resnet import make_dlib_resnet, recognition_model_path
    try:
        path = recognition_model_path()
    except ModelFileError as e:
        pytest.skip(str(e))
    return make_dlib_resnet(path, features=True), path


def test_descriptors_agree_with_dlib_on_real_faces(port, photos):
    import dlib

    from mask2face.dlib_resnet import CHIP_PADDING, CHIP_SIZE
    from mask2face.faces import LANDMARKS_FILE, packaged_model_path
    model, path = port
    net = dlib.face_recognition_model_v1(str(path))
    predictor = dlib.shape_predictor(str(packaged_model_path(LANDMARKS_FILE)))
    detector = dlib.get_frontal_face_detector()
    for name, photo in photos.items():
        shape = predictor(photo, detector(photo, 1)[0])
        chip = dlib.get_face_chip(photo, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        theirs = np.array(net.compute_face_descriptor(chip))
        ours = np.asarray(model(chip[None].astype(np.float32))["descriptor"])[0]
        np.testing.assert_allclose(ours, theirs, atol=1e-3, err_msg=name)
        assert np.abs(theirs).max() > 0.05  # a real descriptor, not zeros


def test_levels_and_frozen(port):
    model, _ = port
    out = model(np.zeros((1, 150, 150, 3), np.float32))
    assert [tuple(f.shape)[-1] for f in out["features"]] == [32, 64, 128, 256, 256]
    assert not model.trainable_weights


def test_a_file_that_is_not_the_network_is_refused(tmp_path):
    from mask2face.dlib_resnet import read_dlib_weights
    bad = tmp_path / "x.dat"
    bad.write_bytes(b"\x01\x01\x01\x05con_4" + b"\x00" * 40)
    with pytest.raises(ModelFileError, match="not dlib's face-recognition ResNet|past the end"):
        read_dlib_weights(bad)


def test_identity_term_has_a_gradient_towards_the_real_face(port, photos):
    tf = pytest.importorskip("tensorflow")
    import cv2

    from mask2face.adversarial import face_chips, identity_loss
    model, _ = port
    face = cv2.resize(next(iter(photos.values())), (128, 128)).astype(np.float32) / 255.0
    target = tf.constant(face[None])
    blurred = tf.Variable(cv2.GaussianBlur(face, (0, 0), 3)[None])
    with tf.GradientTape() as tape:
        real = model(face_chips(target))["descriptor"]
        fake = model(face_chips(blurred))["descriptor"]
        loss = identity_loss(tf.stop_gradient(real), fake)
    gradient = tape.gradient(loss, blurred)
    assert float(loss) > 0 and np.abs(gradient.numpy()).max() > 0
    stepped = blurred - 0.5 * gradient / tf.reduce_max(tf.abs(gradient))
    closer = identity_loss(real, model(face_chips(stepped))["descriptor"])
    assert float(closer) < float(loss)


def test_the_half_size_copy_gives_the_same_descriptors(port, tmp_path):
    """The float16 copy (to carry where face-recognition-models is not) is half the file and
    gives descriptors within 1e-3 of the network's; a file that is not one is refused."""
    from mask2face.dlib_resnet import main, make_dlib_resnet, read_dlib_weights
    model, path = port
    half = tmp_path / "recognition.npz"
    assert main(["--half", str(half), "--source", str(path)]) == 0
    assert half.stat().st_size < 0.55 * path.stat().st_size
    chips = np.random.default_rng(0).uniform(0, 255, (2, 150, 150, 3)).astype(np.float32)
    ours = np.asarray(make_dlib_resnet(half)(chips))
    theirs = np.asarray(model(chips)["descriptor"])
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    np.savez(tmp_path / "other.npz", con_00=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a copy"):
        read_dlib_weights(tmp_path / "other.npz")
