"""Train a small Keras model on CPU with its learning rate served by lrcast.

Start the server first (README): ``lrcast-server serve`` with ``LRCAST_ADMIN_TOKEN`` set, then

    LRCAST_TOKEN=$LRCAST_ADMIN_TOKEN TF_CPP_MIN_LOG_LEVEL=3 python examples/train_keras.py
"""

from __future__ import annotations

import numpy as np

import lrcast

SCHEDULE = {
    "description": "one cycle over 5 epochs of 16 batches",
    "curves": {
        "lr": {"type": "one_cycle", "peak": 0.05, "steps": 80},
        "momentum": {"type": "one_cycle", "peak": 0.85, "start": 0.95, "end": 0.95, "steps": 80},
    },
}


def main() -> None:
    import keras

    from lrcast.keras import RemoteSchedule

    with lrcast.Client() as client:  # LRCAST_URL / LRCAST_TOKEN
        client.publish("example-keras", SCHEDULE)
        client.bind_run("example-keras", "example-keras", block=16)

        rng = np.random.default_rng(0)
        x = rng.normal(size=(512, 8)).astype("float32")
        y = (x @ rng.normal(size=(8, 1))).astype("float32")
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0), loss="mse")
        history = model.fit(
            x,
            y,
            batch_size=32,
            epochs=5,
            verbose=2,
            callbacks=[RemoteSchedule("example-keras", client=client)],
        )
        print(f"final loss {history.history['loss'][-1]:.4f}")


if __name__ == "__main__":
    main()
