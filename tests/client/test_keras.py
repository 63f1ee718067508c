"""The Keras shim with real TensorFlow: ``model.fit`` sets the server's values before every
batch, a resumed ``fit`` continues at the right step, and the helper serves custom loops."""

from __future__ import annotations

import os
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import lrcast.keras as lrcast_keras  # noqa: E402
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


def _data() -> tuple[Any, Any]:
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _fit_warnings(model: Any, schedule: RemoteSchedule, **fit: Any) -> list[str]:
    """The warnings lrcast's callback gives in ``fit`` (Keras's own are left out)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*_data(), batch_size=4, verbose=0, callbacks=[schedule], **fit)
    mine = [w for w in caught if w.filename == lrcast_keras.__file__ or "lrcast" in str(w.message)]
    return [str(w.message) for w in mine]


def test_sgd_momentum_in_fit_is_left_alone_with_one_warning_and_lr_still_set(
    client: Client, name: str
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0, momentum=0.5), loss="mse")
    said = _fit_warnings(model, RemoteSchedule(name, client=client), epochs=2)
    assert len(said) == 1
    assert "'momentum' curve is not applied" in said[0]
    want = expected(client, name, range(8))["lr"][7]
    assert float(model.optimizer.learning_rate.numpy()) == float(np.float32(want))
    assert model.optimizer.momentum == 0.5


def test_a_model_saved_during_fit_loads_and_trains_on(
    client: Client, name: str, tmp_path: Any
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.AdamW(learning_rate=1.0, weight_decay=0.1)
    model.compile(optimizer=optimizer, loss="mse")
    path = str(tmp_path / "model.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(path), RemoteSchedule(name, client=client)]
    model.fit(*_data(), batch_size=4, epochs=2, verbose=0, callbacks=callbacks)
    loaded = keras.models.load_model(path)
    assert loaded.optimizer.weight_decay == pytest.approx(5e-5)
    assert isinstance(loaded.optimizer.beta_1, float)
    record = Record()
    fit = {"batch_size": 4, "epochs": 3, "initial_epoch": 2, "verbose": 0}
    loaded.fit(*_data(), **fit, callbacks=[RemoteSchedule(name, client=client), record])
    assert [s for s, _, _ in record.seen] == [8, 9, 10, 11]
    want = expected(client, name, range(12))["lr"][8:]
    assert [lr for _, lr, _ in record.seen] == [float(np.float32(v)) for v in want]


def test_steps_per_execution_over_one_is_warned_about(client: Client, name: str) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1.0), loss="mse", steps_per_execution=2)
    said = _fit_warnings(model, RemoteSchedule(name, client=client))
    assert any("change only every 2 steps" in message for message in said)


def test_monitor_reports_the_validation_loss_each_epoch_to_a_plateau_run(
    client: Client, name: str
) -> None:
    client.publish(name, COSINE)
    # No report after the first is better by 1e9: each reduces lr (patience 0).
    plateau = {"metric": "val_loss", "patience": 0, "factor": 0.5}
    plateau |= {"threshold": 1e9, "threshold_mode": "abs"}
    client.bind_run(name, name, block=2, plateau=plateau)
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model, record = tiny_model(), Record()
    schedule = RemoteSchedule(name, client=client, mode="per_step", monitor="val_loss")
    fit = {"batch_size": 8, "epochs": 3, "verbose": 0, "validation_data": (x, y)}
    model.fit(x, y, **fit, callbacks=[schedule, record])
    reports = list(client.iter_metrics(name, name="val_loss"))
    assert [(m.step, m.applied) for m in reports] == [(4, True), (9, True), (14, True)]
    timeline = client.get_run(name).timeline
    # Epochs end at steps 4, 9 and 14; each reduction lands at the next block.
    assert [(s.from_step, s.reduction) for s in timeline] == [(0, 1.0), (10, 0.5), (16, 0.25)]
    want = expected(client, name, range(15))["lr"]
    assert [lr for _, lr, _ in record.seen] == [float(np.float32(v)) for v in want]


def test_a_monitor_missing_from_the_logs_is_warned_about_once(client: Client, name: str) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8)
    schedule = RemoteSchedule(name, client=client, monitor="val_loss")
    said = _fit_warnings(tiny_model(), schedule, epochs=3)
    assert len([m for m in said if "'val_loss' is not among fit's logs" in m]) == 1
    assert list(client.iter_metrics(name)) == []


def test_a_changed_report_of_a_step_warns_once_and_keeps_the_first_value(
    client: Client, name: str
) -> None:
    client.publish(name, COSINE)
    client.bind_run(name, name, block=8, plateau={"metric": "val_loss"})
    schedule = RemoteSchedule(name, client=client)
    schedule.report(0.5)

    def report_again() -> None:  # as a resumed custom loop does for step 0
        schedule.report(0.6)
        schedule.report(0.7)

    with pytest.warns(UserWarning, match="the first value reported is kept") as said:
        report_again()
    assert len(said) == 1
    assert [(m.step, m.value) for m in client.iter_metrics(name)] == [(0, 0.5)]


def test_a_second_fit_with_a_new_schedule_follows_every_curve_at_every_step(
    client: Client, name: str
) -> None:
    document = {
        "curves": {
            "lr": {"type": "constant", "value": 0.01},
            "weight_decay": {"type": "linear", "start": 1.0, "end": 10.0, "steps": 40},
        }
    }
    client.publish(name, document)
    client.bind_run(name, name, block=8)
    inputs = keras.Input((1,))
    dense = keras.layers.Dense(1, kernel_initializer="ones", use_bias=False)
    model = keras.Model(inputs, dense(inputs))
    optimizer = keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.004)
    # A zero loss: Adam moves nothing, so each step's change of the weight is the weight decay
    # the compiled train step used, w <- w * (1 - lr * weight_decay).
    model.compile(optimizer=optimizer, loss=lambda y, pred: 0.0 * keras.ops.sum(pred))
    used: list[tuple[int, float]] = []

    class Decay(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.before = float(dense.kernel.numpy()[0, 0])
            self.step = int(optimizer.iterations.numpy())

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            after = float(dense.kernel.numpy()[0, 0])
            used.append((self.step, (self.before - after) / self.before / 0.01))

    x, y = np.ones((20, 1), "float32"), np.zeros((20, 1), "float32")
    for first, last in ((0, 2), (2, 4)):  # a second fit resumes, with a new callback
        schedule = RemoteSchedule(name, client=client)
        fit = {"batch_size": 4, "epochs": last, "initial_epoch": first, "verbose": 0}
        model.fit(x, y, **fit, callbacks=[schedule, Decay()])
    assert [step for step, _ in used] == list(range(20))
    want = expected(client, name, range(20))["weight_decay"]
    assert [decay for _, decay in used] == pytest.approx(want, rel=1e-4)
    assert isinstance(optimizer.weight_decay, float)
