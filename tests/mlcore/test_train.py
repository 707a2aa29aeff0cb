"""A real (tiny) training run: the bundle it writes must be complete and load everywhere it is used."""

import json

import numpy as np
import pytest

from mlcore import bundle
from mlcore.architectures.airbench import Recipe
from mlcore.evaluate import evaluate_bundle
from mlcore.inference import Classifier
from mlcore.labels import CLASSES
from mlcore.scores import softmax
from mlcore.train import train

pytestmark = pytest.mark.slow

TINY = Recipe(epochs=1, batch_size=25, widths=(8, 16, 16), val_fraction=0.2, whiten_patch_images=50)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory, synthetic_dataset):
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    lines = []
    metadata = train(synthetic_dataset, TINY, out, progress=lines.append, command="pytest")
    return out, metadata, lines


def test_training_writes_a_complete_bundle(tiny_bundle):
    out, metadata, _ = tiny_bundle
    for name in ("model.keras", "model.tflite", "metadata.json", "history.json", "evaluation.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metadata.json").read_text())
    assert saved["classes"] == list(CLASSES)
    assert saved["input"]["shape"] == [32, 32, 3]
    assert saved["parameters"] == metadata["parameters"] > 0
    assert saved["flops_per_image"] > 0
    assert saved["training"]["config"]["epochs"] == 1
    assert saved["training"]["train_images"] == 80 and saved["training"]["validation_images"] == 20
    assert saved["data"]["fingerprint"] == "sha256:synthetic"
    assert saved["hardware"]["cpu_count"] >= 1
    assert saved["libraries"]["tensorflow"]
    assert "crop" in saved["preprocessing"]
    assert saved["test"]["images"] == 30
    assert not any(path.name.endswith((".partial", ".previous")) for path in out.parent.iterdir())


def test_history_has_one_entry_per_epoch_with_losses_and_accuracies(tiny_bundle):
    out, _, lines = tiny_bundle
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 1
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "elapsed_seconds"):
        assert history[0][key] is not None
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert len(epoch_lines) == 1 and "remaining" in epoch_lines[0] and "val acc" in epoch_lines[0]


def test_evaluation_has_per_class_metrics_and_a_confusion_matrix(tiny_bundle):
    out, _, _ = tiny_bundle
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["images"] == 30
    assert [row["class"] for row in evaluation["per_class"]] == list(CLASSES)
    matrix = np.array(evaluation["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 30 and matrix.sum(axis=1).tolist() == [3] * 10
    assert evaluation["accuracy"] == pytest.approx(np.trace(matrix) / 30)


def _litert_logits(model_bytes, pixels):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, pixels.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, pixels)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_serving_conversion_agrees_with_the_keras_model(tiny_bundle):
    import keras

    out, _, _ = tiny_bundle
    model = keras.saving.load_model(out / "model.keras")
    pixels = np.random.default_rng(3).integers(0, 256, size=(16, 32, 32, 3)).astype(np.float32)
    keras_logits = model.predict(pixels, verbose=0)
    float32_logits = _litert_logits(bundle.serving_model_bytes(model, "group3_gelu2", quantize=False), pixels)
    np.testing.assert_allclose(float32_logits, keras_logits, atol=1e-4, rtol=0)
    # The shipped serving file has int8 weights: close to Keras, not equal.
    served = softmax(Classifier(out).first.scores(pixels.astype(np.uint8), tta="none")[0])
    np.testing.assert_allclose(served, softmax(keras_logits), atol=0.05, rtol=0)


def test_evaluate_bundle_and_inference_load_the_bundle(tiny_bundle, synthetic_dataset):
    out, _, _ = tiny_bundle
    report = evaluate_bundle(out, synthetic_dataset.test)
    saved = json.loads((out / "evaluation.json").read_text())
    assert report["accuracy"] == pytest.approx(saved["accuracy"])
    prediction = Classifier(out).classify([synthetic_dataset.test.images[0]])[0]
    assert prediction.label in CLASSES
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-6)


def test_ctrl_c_leaves_a_usable_bundle_of_the_best_epoch_so_far(tmp_path, synthetic_dataset):
    def interrupt_after_second_epoch(line):
        if line.startswith("epoch  2"):
            raise KeyboardInterrupt

    config = Recipe(epochs=4, batch_size=40, widths=(8, 16, 16), val_fraction=0.2, whiten_patch_images=50)
    metadata = train(synthetic_dataset, config, tmp_path / "stopped", progress=interrupt_after_second_epoch)
    assert metadata["training"]["interrupted"] is True
    assert metadata["training"]["epochs_completed"] == 2
    history = json.loads((tmp_path / "stopped" / "history.json").read_text())
    best = max(history, key=lambda record: record["val_accuracy"])
    assert metadata["training"]["best_epoch"] == best["epoch"]
    assert bundle.check_bundle(tmp_path / "stopped")
    assert Classifier(tmp_path / "stopped").classify([synthetic_dataset.test.images[0]])


def test_retraining_into_the_same_folder_replaces_the_bundle(tmp_path, synthetic_dataset):
    out = tmp_path / "model"
    first = train(synthetic_dataset, TINY, out, progress=lambda line: None)
    second = train(synthetic_dataset, TINY, out, progress=lambda line: None)
    assert json.loads((out / "metadata.json").read_text())["created_at"] == second["created_at"]
    assert first["parameters"] == second["parameters"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


def test_the_bundle_is_calibrated_on_validation_with_a_none_of_the_ten_threshold(tiny_bundle):
    out, metadata, lines = tiny_bundle
    saved = json.loads((out / "metadata.json").read_text())
    calibration, ood = saved["calibration"], saved["ood"]
    assert calibration["fitted_on"] == "validation" and calibration["images"] == 20
    assert calibration["temperature"] > 0
    assert calibration["log_loss_after"] <= calibration["log_loss_before"] + 1e-9
    assert set(ood["thresholds"]) == {"energy", "features"} and ood["true_positive_rate"] >= 0.9
    assert 0 <= ood["false_positive_rate"] <= 1 and ood["out_of_distribution"]["images"] > 0
    assert any("Calibrating" in line for line in lines)
    assert (out / "ood.npz").is_file()


def test_the_evaluation_has_reliability_and_confused_pairs_with_their_images(tiny_bundle):
    out, _, _ = tiny_bundle
    evaluation = json.loads((out / "evaluation.json").read_text())
    bins = evaluation["calibration"]["bins"]
    assert sum(row["count"] for row in bins) == 30 and 0 <= evaluation["calibration"]["ece"] <= 1
    for pair in evaluation.get("confused_pairs", []):
        assert pair["true"] != pair["predicted"] and pair["count"] > 0
        for name in pair["examples"]:
            assert (out / name).is_file()


def test_extra_training_images_join_the_training_split_only(tmp_path, synthetic_dataset):
    extra = synthetic_dataset.test
    metadata = train(synthetic_dataset, TINY, tmp_path / "extra", progress=lambda line: None, extra_train=extra)
    assert metadata["training"]["reviewed_uploads"] == len(extra)
    assert metadata["training"]["train_images"] == 80 + len(extra)
    assert metadata["training"]["validation_images"] == 20
