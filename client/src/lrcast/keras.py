"""The Keras shim: :class:`RemoteSchedule`, a ``keras.callbacks.Callback`` that sets the
optimizer's ``learning_rate`` (and other scheduled hyperparameters) from an lrcast server
before each batch.

>>> from lrcast.keras import RemoteSchedule  # doctest: +SKIP
>>> model.fit(x, y, epochs=3, callbacks=[RemoteSchedule("resnet50-seed1")])

Steps are counted by ``optimizer.iterations``, so a resumed ``fit`` (or a restored optimizer)
continues at the right step. Needs the ``keras`` extra: ``pip install 'lrcast[keras]'``.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping
from typing import Any

try:
    import keras
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lrcast.keras needs Keras 3: pip install 'lrcast[keras]' (and a backend such as tensorflow)"
    ) from exc

from lrcast._client import Client
from lrcast._config import DEFAULT_RETRY, DEFAULT_TIMEOUT, Retry, Timeout
from lrcast._lease import Block, LeaseEngine, Mode, OnOutage, OutageWarning

__all__ = ["OutageWarning", "RemoteSchedule", "assign"]

_NOT_HYPERPARAMETERS = frozenset({"lr", "iterations", "variables", "name"})
_TESTED_WHEN_TRACED = frozenset({"momentum"})
"""Attributes that Keras optimizers (SGD, RMSprop) test in Python when ``fit`` traces its
train step (``if self.momentum != 0``): no variable can stand in for them there."""


def _attribute(optimizer: Any, curve: str) -> str | None:
    """The optimizer attribute a curve sets: ``momentum`` is ``beta_1`` on Adam-family
    optimizers; any other curve sets the attribute of its own name, if the optimizer has one
    (and it is not ``None``: a hyperparameter the optimizer was built without stays off)."""
    if curve == "lr":
        return "learning_rate"
    if curve in _NOT_HYPERPARAMETERS:
        return None
    if curve == "momentum" and getattr(optimizer, "beta_1", None) is not None:
        return "beta_1"
    current = getattr(optimizer, curve, None)
    if current is None or isinstance(current, bool):
        return None
    if isinstance(current, (int, float, keras.Variable)):
        return curve
    return None


_VARIABLES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
"""The variables lrcast made for each optimizer, by attribute: one per attribute for the
optimizer's whole life, since a compiled train step keeps reading the one it was traced with."""


def _variable(optimizer: Any, attribute: str) -> Any:
    """The variable behind ``optimizer.<attribute>``, made from a plain number if needed.

    Keras optimizers keep most hyperparameters as Python floats, which a compiled train step
    reads once, when it is traced; a variable is read at every step. The variable is set
    without the optimizer's tracking, so its checkpoints keep their shape (and
    :class:`RemoteSchedule` puts the plain number back between batches, for saved configs).
    Made once per optimizer and attribute: a later :class:`RemoteSchedule` (a second ``fit``,
    whose cached train step captured the first variable) or :func:`assign` gets the same one,
    holding the current number."""
    current = getattr(optimizer, attribute)
    if isinstance(current, keras.Variable):
        return current
    if attribute == "learning_rate":
        raise TypeError(
            "the optimizer's learning_rate is not a variable (a LearningRateSchedule?): build "
            "it with a float learning_rate for lrcast to set"
        )
    made = _VARIABLES.setdefault(optimizer, {})
    variable = made.get(attribute)
    if variable is None:
        variable = keras.Variable(
            float(current), dtype="float32", trainable=False, name=f"lrcast_{attribute}"
        )
        made[attribute] = variable
    else:
        variable.assign(float(current))
    object.__setattr__(optimizer, attribute, variable)
    return variable


def assign(optimizer: Any, values: Mapping[str, float]) -> dict[str, float]:
    """Assign one step's values (curve name → value) to ``optimizer``'s variables, for custom
    training loops; returns what was set, by attribute name.

    ``lr`` sets ``learning_rate``, ``momentum`` sets ``beta_1`` (Adam family) or ``momentum``,
    and any other curve the attribute of its name when the optimizer has it. Call it before
    the first step is traced (plain-number hyperparameters become variables then).

    Example (a ``tf.GradientTape`` loop)::

        schedule = RemoteSchedule("my-run", url="http://127.0.0.1:8000")
        for x, y in dataset:
            schedule.apply(optimizer)  # or: assign(optimizer, {"lr": 0.1})
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
    """
    done: dict[str, float] = {}
    for curve, value in values.items():
        attribute = _attribute(optimizer, curve)
        if attribute is None:
            continue
        _variable(optimizer, attribute).assign(value)
        done[attribute] = value
    return done


class RemoteSchedule(keras.callbacks.Callback):  # type: ignore[misc]
    """Sets the optimizer's hyperparameters from lrcast before each batch of ``fit``.

    Args:
      run: the run's id (bound beforehand).
      client: a :class:`lrcast.Client`; else one is made from ``url``, ``token``, ``timeout``
        and ``retry`` (``LRCAST_URL`` / ``LRCAST_TOKEN`` by default).
      mode: ``"lease"`` (default) or ``"per_step"``.
      on_outage: ``"extrapolate"`` (default), ``"hold"``, ``"wait"`` or ``"raise"`` (see
        :class:`lrcast.torch.RemoteLR`).
      blocks: blocks per lease.
      monitor: a metric of ``fit``'s logs (``"val_loss"``, say) to report at the end of each
        epoch, under its own name, for a reduce-on-plateau run whose ``plateau.metric`` it is
        (as Keras's ``ReduceLROnPlateau`` monitors it).

    :meth:`apply` does the same for a custom loop, and :meth:`report` reports a metric.
    """

    def __init__(
        self,
        run: str,
        *,
        client: Client | None = None,
        url: str | None = None,
        token: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: Retry = DEFAULT_RETRY,
        mode: Mode = "lease",
        on_outage: OnOutage = "extrapolate",
        blocks: int = 1,
        monitor: str | None = None,
    ) -> None:
        super().__init__()
        owns = client is None
        if client is None:
            client = Client(url=url, token=token, timeout=timeout, retry=retry)
        self.run = run
        self.monitor = monitor
        self._warned_monitor = False
        self._engine = LeaseEngine(
            run, client=client, mode=mode, on_outage=on_outage, blocks=blocks, owns_client=owns
        )
        self._start = 0
        self._check_at = -1
        self._setters: list[tuple[Any, list[float | None]]] = []
        self._optimizer: Any = None
        self._made: list[tuple[str, Any]] = []
        """The variables lrcast put in place of plain-number attributes, by attribute."""
        self._in_fit = False
        self._skipped: set[str] = set()
        self.step = -1
        """The step whose values were set last."""

    @property
    def client(self) -> Client:
        return self._engine.client

    @property
    def source(self) -> str:
        """Where the current values come from: ``server``, ``extrapolated`` or ``held``."""
        block = self._engine.block
        return block.source if block is not None else "server"

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._in_fit = True
        every = getattr(self.model, "steps_per_execution", 1)
        if isinstance(every, int) and every > 1:
            warnings.warn(
                f"steps_per_execution={every}: Keras calls callbacks once per {every} steps, so "
                f"lrcast's values change only every {every} steps (compile with "
                "steps_per_execution=1 for a value at every step)",
                stacklevel=2,
            )
        self.apply(self.model.optimizer)

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.apply(self.model.optimizer)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._release()

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._release()
        self._in_fit = False

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.monitor is None:
            return
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned_monitor:
                self._warned_monitor = True
                warnings.warn(
                    f"lrcast: {self.monitor!r} is not among fit's logs ({', '.join(logs)}), so "
                    f"run {self.run!r} gets no report of it (validation data missing?)",
                    stacklevel=2,
                )
            return
        self.report(float(value), self.monitor)

    def report(self, value: float, name: str | None = None) -> None:
        """Report a metric (``POST /v1/runs/{run}/metrics``, for reduce-on-plateau runs) for
        the last step trained, under ``name`` (default: the run's ``plateau.metric``); an
        outage warns once, as values do."""
        self._engine.report(max(self.step, 0), name, float(value))

    def _release(self) -> None:
        """Put plain numbers back where lrcast put variables, between batches: the optimizer's
        config (a saved model, a checkpoint) then holds numbers, not tensors. The traced train
        step keeps the variables it captured, and :meth:`apply` puts them back."""
        for attribute, variable in self._made:
            value = float(keras.ops.convert_to_numpy(variable))
            object.__setattr__(self._optimizer, attribute, value)

    def apply(self, optimizer: Any, step: int | None = None) -> None:
        """Assign the values of ``step`` (default: ``optimizer.iterations``, the next update)
        to ``optimizer``."""
        if step is None:
            step = int(keras.ops.convert_to_numpy(optimizer.iterations))
        if optimizer is self._optimizer:
            for attribute, variable in self._made:
                object.__setattr__(optimizer, attribute, variable)
        if optimizer is not self._optimizer or not self._start <= step < self._check_at:
            self._bind(optimizer, self._engine.advance(step))
        i = step - self._start
        for variable, column in self._setters:
            value = column[i]
            if value is not None:
                variable.assign(value)
        self.step = step

    def values(self, step: int) -> dict[str, float]:
        """Every curve's value at ``step`` (from the lease, or computed in an outage)."""
        block = self._engine.advance(step)
        self._check_at = -1
        return block.row(step)

    def _bind(self, optimizer: Any, block: Block) -> None:
        setters = []
        made = self._made if optimizer is self._optimizer else []
        for curve, column in block.values.items():
            attribute = _attribute(optimizer, curve)
            if attribute is None:
                continue
            if self._in_fit and attribute in _TESTED_WHEN_TRACED:
                if attribute not in self._skipped:
                    self._skipped.add(attribute)
                    warnings.warn(
                        f"the {curve!r} curve is not applied: {type(optimizer).__name__} reads "
                        f"{attribute} once, when fit traces its train step (schedule beta_1 "
                        "of an Adam-family optimizer, or call apply() in an eager loop)",
                        stacklevel=3,
                    )
                continue
            was_number = not isinstance(getattr(optimizer, attribute), keras.Variable)
            variable = _variable(optimizer, attribute)
            if was_number and all(a != attribute for a, _ in made):
                made.append((attribute, variable))
            setters.append((variable, column))
        self._setters = setters
        self._made = made
        self._optimizer = optimizer
        self._start = block.start
        self._check_at = self._engine.check_at

    def close(self) -> None:
        """Close the client if this callback made it."""
        self._engine.close()
