"""Every example spec builds the model a Keras user would write by hand.

For each spec a hand-written Keras model of the same architecture is built, and the two are
compared: parameter count, the classes of the layers in order (sub-models expanded), and the
connectivity (for each layer, the classes of the layers it reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import keras
import pytest

from kerun_testing import SPECS
from kerun.model.model import build_model
from kerun.spec import load_spec

L = keras.layers


def _plugin_classes() -> dict[str, type]:
    objects = keras.saving.get_custom_objects()
    return {k.split(">")[-1]: v for k, v in objects.items()}


def iris_mlp() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), L.Normalization(), L.Dense(32), L.Activation("relu"), L.Dense(3, activation="softmax")])


def iris_sweep() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), L.Dense(32, activation="relu"), L.Dense(3, activation="softmax")])


def digits_cnn() -> keras.Model:
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(32, (3, 3), activation="relu", padding="same"),
        L.BatchNormalization(),
        L.MaxPooling2D((2, 2), strides=(2, 2)),
        L.Flatten(),
        L.Dense(64, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])


def digits_cnn_functional() -> keras.Model:
    x = keras.Input((8, 8, 1))
    h = L.Conv2D(32, 3, activation="relu", padding="same")(x)
    h = L.MaxPooling2D(2)(h)
    h = L.Flatten()(h)
    h = L.Dense(64, activation="relu")(h)
    h = L.Dropout(0.5)(h)
    return keras.Model(x, L.Dense(10, activation="softmax")(h))


def digits_regularized() -> keras.Model:
    return keras.Sequential([
        keras.Input((64,)),
        L.Dense(128, activation="relu", kernel_regularizer=keras.regularizers.L2(0.001)),
        L.Dropout(0.5),
        L.Dense(128, activation="tanh", kernel_regularizer=keras.regularizers.L1L2(0.0, 0.0003)),
        L.Dropout(0.4),
        L.Dense(10, activation="softmax"),
    ])


def autoencoder() -> keras.Model:
    encoder = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(16, 3, activation="relu"), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(3),
        L.Conv2D(32, 3, activation="relu"), L.Conv2D(16, 3, activation="relu"), L.GlobalMaxPooling2D(),
    ])
    decoder = keras.Sequential([
        keras.Input((16,)),
        L.Reshape((4, 4, 1)), L.Conv2DTranspose(16, 3, activation="relu"), L.Conv2DTranspose(32, 3, activation="relu"),
        L.UpSampling2D(3), L.Conv2DTranspose(16, 3, activation="relu"), L.Conv2DTranspose(1, 3, activation="relu"),
    ])
    return keras.Sequential([keras.Input((28, 28, 1)), encoder, decoder])


def ensemble() -> keras.Model:
    x = keras.Input((128,))
    outs = [keras.Sequential([keras.Input((128,)), L.Dense(1)])(x) for _ in range(3)]
    return keras.Model(x, L.Average()(outs))


def toy_resnet() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = L.Conv2D(32, 3, activation="relu")(inputs)
    x = L.Conv2D(64, 3, activation="relu")(x)
    block1 = L.MaxPooling2D(3)(x)
    x = L.Conv2D(64, 3, activation="relu", padding="same")(block1)
    x = L.Conv2D(64, 3, activation="relu", padding="same")(x)
    block2 = L.Add()([x, block1])
    x = L.Conv2D(64, 3, activation="relu")(block2)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(256, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    return keras.Model(inputs, L.Dense(10)(x))


def iris_wide() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), L.Normalization(), L.Dense(64), L.Activation("relu"), L.Dense(3, activation="softmax")])


def xception_blocks() -> keras.Model:
    # the keras.io "image classification from scratch" loop, two sizes
    inputs = keras.Input((32, 32, 3))
    x = L.Rescaling(1.0 / 255)(inputs)
    x = L.Conv2D(32, 3, strides=2, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    previous = x
    for size in [64, 128]:
        x = L.Activation("relu")(x)
        x = L.SeparableConv2D(size, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.SeparableConv2D(size, 3, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = L.Conv2D(size, 1, strides=2, padding="same")(previous)
        x = L.Add()([x, residual])
        previous = x
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.25)(x)
    return keras.Model(inputs, L.Dense(3, activation="softmax")(x))


def two_texts() -> keras.Model:
    title = keras.Input((10,), dtype="int32")
    body = keras.Input((100,), dtype="int32")
    emb = L.Embedding(1000, 64)
    merged = L.Concatenate()([L.LSTM(32)(emb(title)), L.LSTM(32)(emb(body))])
    return keras.Model([title, body], [L.Dense(1, activation="sigmoid")(merged), L.Dense(4, activation="softmax")(merged)])


def lstm_states() -> keras.Model:
    source = keras.Input((10,), dtype="int32")
    target_in = keras.Input((12,), dtype="int32")
    emb = L.Embedding(200, 32)
    _, h, c = L.LSTM(48, return_state=True)(emb(source))
    seq = L.LSTM(48, return_sequences=True)(emb(target_in), initial_state=[h, c])
    return keras.Model([source, target_in], L.Dense(200, activation="softmax")(seq))


def custom_layer() -> keras.Model:
    simple_dense = _plugin_classes()["SimpleDense"]
    return keras.Sequential([
        keras.Input((30,)), L.Normalization(), simple_dense(32, activation="relu"), simple_dense(10, activation="relu"),
        L.Dense(1, activation="sigmoid"),
    ])


def custom_model() -> keras.Model:
    net = _plugin_classes()["TwoLayerNet"]
    return keras.Sequential([keras.Input((10,)), net(hidden=32)])


HAND_WRITTEN: dict[str, Callable[[], keras.Model]] = {
    "iris_mlp": iris_mlp,
    "iris_sweep": iris_sweep,
    "digits_cnn": digits_cnn,
    "digits_cnn_functional": digits_cnn_functional,
    "digits_regularized": digits_regularized,
    "autoencoder": autoencoder,
    "ensemble": ensemble,
    "toy_resnet": toy_resnet,
    "iris_wide": iris_wide,
    "xception_blocks": xception_blocks,
    "two_texts": two_texts,
    "lstm_states": lstm_states,
    "custom_layer": custom_layer,
    "custom_model": custom_model,
}


def _classes(model: keras.Model) -> list[str]:
    out: list[str] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model) and not type(layer).__module__.startswith("kerun_plugin"):
            if isinstance(layer, (keras.Sequential,)) or type(layer).__name__ == "Functional":
                out.extend(_classes(layer))
                continue
        if type(layer).__name__ != "InputLayer":
            out.append(type(layer).__name__)
    return out


def _connectivity(model: keras.Model) -> list[list[str]]:
    from kerun.model.describe import _inputs

    by_name = {layer.name: layer for layer in model.layers}
    out = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        out.append(sorted(type(by_name[n]).__name__ if n in by_name else "Input" for n in _inputs(layer)))
    return out


def test_every_example_has_a_hand_written_twin() -> None:
    assert sorted(p.stem for p in SPECS.glob("*.yaml")) == sorted(HAND_WRITTEN)


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_example_builds_like_hand_written_keras(name: str) -> None:
    built = build_model(load_spec(SPECS / f"{name}.yaml"))
    hand = HAND_WRITTEN[name]()
    assert built.model.count_params() == hand.count_params()
    assert _classes(built.model) == _classes(hand)
    if not isinstance(hand, keras.Sequential):
        assert _connectivity(built.model) == _connectivity(hand)
    assert sorted(tuple(t.shape) for t in keras.tree.flatten(built.model.outputs)) == sorted(tuple(t.shape) for t in keras.tree.flatten(hand.outputs))


def test_chain_becomes_sequential_and_graph_functional() -> None:
    assert isinstance(build_model(load_spec(SPECS / "digits_cnn.yaml")).model, keras.Sequential)
    assert not isinstance(build_model(load_spec(SPECS / "toy_resnet.yaml")).model, keras.Sequential)


def test_shared_embedding_has_one_set_of_weights() -> None:
    model = build_model(load_spec(SPECS / "two_texts.yaml")).model
    embeddings = [layer for layer in model.layers if isinstance(layer, L.Embedding)]
    assert len(embeddings) == 1 and len(embeddings[0]._inbound_nodes) == 2


def test_submodel_instances_are_fresh() -> None:
    model = build_model(load_spec(SPECS / "ensemble.yaml")).model
    subs = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    assert len(subs) == 3
    assert len({id(s.layers[-1].kernel) for s in subs}) == 3


def test_adaptable_layers_are_marked() -> None:
    built = build_model(load_spec(SPECS / "iris_mlp.yaml"))
    assert [type(layer).__name__ for layer in built.adapt] == ["Normalization"]


def test_multi_output_model_returns_named_dict() -> None:
    built = build_model(load_spec(SPECS / "two_texts.yaml"))
    assert built.output_names == ["priority", "department"]
    assert isinstance(built.model.output, dict) and set(built.model.output) == {"priority", "department"}


def test_seed_makes_initial_weights_repeatable() -> None:
    a = build_model(load_spec(SPECS / "iris_sweep.yaml")).model.get_weights()
    b = build_model(load_spec(SPECS / "iris_sweep.yaml")).model.get_weights()
    assert all((x == y).all() for x, y in zip(a, b))


@pytest.mark.parametrize("name", ["toy_resnet", "two_texts", "autoencoder"])
def test_summary_json_reports_the_hand_written_parameter_count(name: str) -> None:
    import json

    from typer.testing import CliRunner

    from kerun.cli import app

    result = CliRunner().invoke(app, ["summary", str(SPECS / f"{name}.yaml"), "--json", "--expand"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    hand = HAND_WRITTEN[name]()
    assert info["total_params"] == hand.count_params()
    trainable = sum(int(keras.ops.size(w)) for w in hand.trainable_weights)
    assert info["trainable_params"] == trainable
    assert {"name", "type", "output_shape", "params", "inputs"} <= set(info["layers"][0])
    if name == "autoencoder":
        assert any(layer["depth"] == 1 for layer in info["layers"])  # sub-models expanded


def test_summary_table_shows_layers() -> None:
    from typer.testing import CliRunner

    from kerun.cli import app

    result = CliRunner().invoke(app, ["summary", str(SPECS / "toy_resnet.yaml")])
    assert result.exit_code == 0
    assert "block2" in result.stdout and "Add" in result.stdout and "total params: 149,386" in result.stdout


def test_plugin_classes_by_short_and_full_name(tmp_path: Path) -> None:
    (tmp_path / "plug.py").write_text(
        "import keras\n\n@keras.saving.register_keras_serializable(package='mine')\n"
        "class Scale(keras.layers.Layer):\n    def __init__(self, factor=2.0, **kwargs):\n"
        "        super().__init__(**kwargs)\n        self.factor = factor\n"
        "    def call(self, x):\n        return x * self.factor\n"
        "    def get_config(self):\n        return {**super().get_config(), 'factor': self.factor}\n"
    )
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "plugins: [plug.py]\nmodel:\n  inputs: {x: [3]}\n  layers:\n"
        "    - {type: Scale, factor: 3.0}\n    - {type: mine>Scale, name: again}\n    - {type: Dense, units: 1}\n"
    )
    built = build_model(load_spec(spec))
    scales = [layer for layer in built.model.layers if type(layer).__name__ == "Scale"]
    assert [s.factor for s in scales] == [3.0, 2.0]
    from kerun.errors import SpecError

    spec.write_text(spec.read_text().replace("factor: 3.0", "factr: 3.0"))
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert "Scale has no argument 'factr'" in err.value.message and "did you mean 'factor'" in (err.value.problems[0].hint or "")
