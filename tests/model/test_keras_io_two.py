"""keras.io translations of issue 23 (real Keras models, part two), each beside its hand-written twin:
the same parameter count, trained an epoch in-process on small generated data, evaluated and
predicted from its folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from kerun_testing import SPECS, trained_on_demand

keras = pytest.importorskip("keras")
L = keras.layers

FOLDER = SPECS / "keras_io"


def _vae() -> Any:
    """keras.io "Variational AutoEncoder", encoder and decoder as written there (8x8 images, latent 2)."""
    images = keras.Input((8, 8, 1))
    h = L.Conv2D(16, 3, activation="relu", strides=2, padding="same")(L.Conv2D(8, 3, activation="relu", strides=2, padding="same")(images))
    h = L.Dense(16, activation="relu")(L.Flatten()(h))
    encoder = keras.Model(images, [L.Dense(2)(h), L.Dense(2)(h)])
    z = keras.Input((2,))
    h = L.Reshape((2, 2, 16))(L.Dense(2 * 2 * 16, activation="relu")(z))
    h = L.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(
        L.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(h))
    decoder = keras.Model(z, L.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(h))
    return encoder.count_params() + decoder.count_params()


def _seq2seq() -> Any:
    """keras.io "Character-level recurrent sequence-to-sequence model" (latent 16, 10 and 12 characters)."""
    encoder_inputs = keras.Input((None, 10), name="encoder_inputs")
    _, state_h, state_c = L.LSTM(16, return_state=True)(encoder_inputs)
    decoder_inputs = keras.Input((None, 12), name="decoder_inputs")
    decoder_outputs = L.LSTM(16, return_sequences=True)(decoder_inputs, initial_state=[state_h, state_c])
    return keras.Model({"encoder_inputs": encoder_inputs, "decoder_inputs": decoder_inputs},
                       L.Dense(12, activation="softmax")(decoder_outputs))


def _unet() -> Any:
    """keras.io "Image segmentation with a U-Net-like architecture", as written there (smaller filters)."""
    inputs = keras.Input((16, 16, 3))
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(8, 3, strides=2, padding="same")(inputs)))
    previous_block_activation = x
    for filters in [16]:
        x = L.Activation("relu")(x)
        x = L.SeparableConv2D(filters, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.SeparableConv2D(filters, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = L.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = L.add([x, residual])
        previous_block_activation = x
    for filters in [16, 8]:
        x = L.Activation("relu")(x)
        x = L.Conv2DTranspose(filters, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.Conv2DTranspose(filters, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.UpSampling2D(2)(x)
        residual = L.UpSampling2D(2)(previous_block_activation)
        residual = L.Conv2D(filters, 1, padding="same")(residual)
        x = L.add([x, residual])
        previous_block_activation = x
    return keras.Model(inputs, L.Conv2D(3, 3, activation="softmax", padding="same")(x))


def _vit() -> Any:
    """keras.io "Image classification with Vision Transformer" (one block, 4x4 patches, projection 8)."""
    from keras_io_vit import PatchEncoder, Patches  # the example's own layers

    data_augmentation = keras.Sequential([
        keras.Input((8, 8, 3)), L.Normalization(mean=[0.5, 0.5, 0.5], variance=[0.083, 0.083, 0.083]), L.Resizing(8, 8),
        L.RandomFlip("horizontal"), L.RandomRotation(factor=0.02), L.RandomZoom(height_factor=0.2, width_factor=0.2)])
    inputs = keras.Input((8, 8, 3))
    encoded_patches = PatchEncoder(4, 8)(Patches(4)(data_augmentation(inputs)))
    for _ in range(1):
        x1 = L.LayerNormalization(epsilon=1e-6)(encoded_patches)
        attention_output = L.MultiHeadAttention(num_heads=2, key_dim=8, dropout=0.1)(x1, x1)
        x2 = L.Add()([attention_output, encoded_patches])
        x3 = L.LayerNormalization(epsilon=1e-6)(x2)
        for units in [16, 8]:
            x3 = L.Dropout(0.1)(L.Dense(units, activation=keras.activations.gelu)(x3))
        encoded_patches = L.Add()([x3, x2])
    h = L.Dropout(0.5)(L.Flatten()(L.LayerNormalization(epsilon=1e-6)(encoded_patches)))
    for units in [16, 8]:
        h = L.Dropout(0.5)(L.Dense(units, activation=keras.activations.gelu)(h))
    return keras.Model(inputs, L.Dense(3)(h))


TWINS: dict[str, Callable[[], Any]] = {"vae": _vae, "seq2seq": _seq2seq, "unet": _unet, "vit": _vit}
"""Each translation's hand-written twin (a model, or its parameter count), by spec name. A twin
model given the run's weights predicts what the run predicts: the same graph, wired the same way."""

HISTORY: dict[str, set[str]] = {"vae": {"total_loss", "reconstruction_loss", "kl_loss", "val_kl_loss"},
                                "seq2seq": {"loss", "accuracy", "val_loss"}, "unet": {"loss", "val_loss"},
                                "vit": {"loss", "accuracy", "val_accuracy"}}
"""What each run's history must hold: the VAE's own train_step and test_step ran (its KL term)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from trained_on_demand(FOLDER, tmp_path_factory.mktemp("keras_io_two"))


@pytest.mark.parametrize("name", sorted(TWINS))
def test_translation_matches_its_keras_twin(runs: Any, name: str, tmp_path: Path) -> None:
    from kerun.run.evaluate import evaluate_run
    from kerun.run.predict import predict_run

    result = runs(name)
    assert result.status == "completed" and result.epochs == 1
    twin = TWINS[name]()
    assert result.built.model.count_params() == (twin if isinstance(twin, int) else twin.count_params())
    rows = json.loads((result.run_dir / "history.json").read_text())
    assert HISTORY[name] <= set(rows[0]) and all(np.isfinite(rows[0][k]) for k in HISTORY[name])
    report = evaluate_run(result.run_dir, split="validation")
    assert report["examples"] and np.isfinite(list(report["metrics"].values())).all()
    batches = list(result.datasets.adapt().as_numpy_iterator())
    x = ({k: np.concatenate([b[k] for b in batches])[:5] for k in batches[0]} if isinstance(batches[0], dict)
         else {result.built.input_names[0]: np.concatenate(batches)[:5]})
    np.savez(tmp_path / "new.npz", **x)
    predicted = predict_run(result.run_dir, tmp_path / "new.npz", tmp_path / "out.npz")
    assert predicted["rows"] == 5
    with np.load(tmp_path / "out.npz") as out:
        got = next(iter(out.values()))
    if isinstance(twin, int):  # the VAE reconstructs its inputs
        assert got.shape == next(iter(x.values())).shape
    else:
        twin.set_weights(result.built.model.get_weights())
        np.testing.assert_allclose(got, twin.predict(x if len(x) > 1 else next(iter(x.values())), verbose=0), atol=1e-5)
