"""The Keras shim with real TensorFlow: ``model.fit`` sets the server's values before every
batch, a resumed ``fit`` continues at the right step, and the helper serves custom loops."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from lrcast._client import Client  # noqa: E402
from lrcast.keras import RemoteSchedule, assign  # noqa: E402
from tests.client.helpers import COSINE, expected  # noqa: E402


class Record(keras.callbacks.Callback):  # type: ignore[misc]
    """What the optimizer holds when each batch starts (after lrcast's callback)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, float, float]] = []

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        opt = self.model.optimizer
        self.seen.append(
            (int(opt.iterations.numpy()), float(opt.learning_rate.numpy()), float(opt.beta_1))
        )


def tiny_model() -> Any:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1.0), loss="mse")
    return model


def test_fit_uses_the_servers_values_at_every_batch_and_resumes_at_the_right_step(
    client: Client, name: str
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8)
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = tiny_model()
    schedule, record = RemoteSchedule(name, client=client), Record()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[schedule, record])
    model.fit(
        x, y, batch_size=8, epochs=4, initial_epoch=2, verbose=0, callbacks=[schedule, record]
    )
    steps = [s for s, _, _ in record.seen]
    assert steps == list(range(20))
    want = expected(client, name, range(20))
    assert [lr for _, lr, _ in record.seen] == [float(np.float32(v)) for v in want["lr"]]
    assert {beta for _, _, beta in record.seen} == {float(np.float32(0.85))}


def test_assign_sets_a_steps_values_for_a_custom_loop(client: Client, name: str) -> None:
    tf = pytest.importorskip("tensorflow")
    client.publish(name, COSINE)
    client.bind_run(name, name, block=4)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    opt = keras.optimizers.SGD(learning_rate=1.0, momentum=0.5)
    schedule = RemoteSchedule(name, client=client)
    seen = []
    for _ in range(6):
        schedule.apply(opt)
        seen.append(float(opt.learning_rate.numpy()))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(tf.ones((4, 2))) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    assert seen == [float(np.float32(v)) for v in expected(client, name, range(6))["lr"]]
    assert float(opt.momentum.numpy()) == pytest.approx(0.85)
    assert assign(opt, {"lr": 0.25, "unknown": 1.0}) == {"learning_rate": 0.25}
