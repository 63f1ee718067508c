"""The PyTorch shim: :class:`RemoteLR`, a ``torch.optim.lr_scheduler.LRScheduler`` whose values
come from an lrcast server.

>>> from lrcast.torch import RemoteLR  # doctest: +SKIP
>>> scheduler = RemoteLR(optimizer, run="resnet50-seed1", url="http://127.0.0.1:8000")
>>> for batch in data:
...     loss = model(batch).mean(); loss.backward()
...     optimizer.step(); optimizer.zero_grad()
...     scheduler.step()

Needs the ``torch`` extra: ``pip install 'lrcast[torch]'``.
"""

from __future__ import annotations

from typing import Any

try:
    import torch
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lrcast.torch needs PyTorch: pip install 'lrcast[torch]' (or install torch yourself)"
    ) from exc

from lrcast._client import Client
from lrcast._config import DEFAULT_RETRY, DEFAULT_TIMEOUT, Retry, Timeout
from lrcast._lease import Block, LeaseEngine, Mode, OnOutage, OutageWarning, group_columns

__all__ = ["OutageWarning", "RemoteLR"]

_Setter = tuple[dict[str, Any], str, list[float | None]]


def _broadcast(src: int) -> Any:
    import torch.distributed as dist

    def broadcast(payload: Any) -> Any:
        box = [payload]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    return broadcast


def _is_zero(value: Any) -> bool:
    """Whether a group's ``weight_decay`` is exactly 0 (a no-decay group)."""
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and bool(value == 0)
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _distributed() -> tuple[bool, int]:
    """Whether a multi-process group is initialised, and this process's rank."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return True, dist.get_rank()
    return False, 0


class RemoteLR(LRScheduler):
    """A learning-rate scheduler served by lrcast: works wherever a torch scheduler works.

    Each step sets, on every parameter group: ``lr`` (the run's lr, or its group's lr, groups
    matched by a ``name`` key, else by order, to the run's ``groups``); ``momentum``, or
    ``betas[0]`` on Adam-family optimizers, when the schedule has a ``momentum`` curve; and any
    other curve whose name is a key of the group (``weight_decay``, say), except that a group
    whose ``weight_decay`` is exactly 0 when the scheduler first sees it, beside groups whose
    is not (the no-decay group of biases and norms), keeps it at 0. A tensor value stays a
    tensor, filled in place; groups sharing one tensor (torch gives every group the tensor
    passed as a default) each get their own copy first.

    Args:
      optimizer: the optimizer to drive.
      run: the run's id (bound beforehand, e.g. with ``lrcast apply`` or
        :meth:`lrcast.Client.bind_run`).
      client: a :class:`lrcast.Client`; else one is made from ``url``, ``token``, ``timeout``
        and ``retry`` (``LRCAST_URL`` / ``LRCAST_TOKEN`` by default).
      mode: ``"lease"`` (default: a block of steps per request, the next fetched in the
        background) or ``"per_step"`` (one request a step).
      on_outage: past the lease, when the server cannot be reached: ``"extrapolate"``
        (default: go on with the last timeline, computed locally exactly as the server would),
        ``"hold"`` (keep the last values), ``"wait"`` (block until it answers) or ``"raise"``.
        One :class:`OutageWarning` says so.
      blocks: blocks per lease.
      metric: the name :meth:`step` and :meth:`report` report a metric under (default: the
        run's ``plateau.metric`` when the report arrives, ``"loss"`` without a plateau).
      distributed: under ``torch.distributed`` rank 0 fetches every block and broadcasts it
        (the others make no request); ``None`` (default) detects an initialised process group.
        Every rank must then call :meth:`step` equally often.
      last_epoch: as in torch; use :meth:`load_state_dict` to resume instead.
    """

    def __init__(
        self,
        optimizer: Optimizer,
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
        metric: str | None = None,
        distributed: bool | None = None,
        last_epoch: int = -1,
    ) -> None:
        is_distributed, rank = _distributed()
        if distributed is not None:
            is_distributed = distributed and is_distributed
        owns = client is None
        if client is None:
            client = Client(url=url, token=token, timeout=timeout, retry=retry)
        self.run = run
        self.metric = metric
        self._engine = LeaseEngine(
            run,
            client=client,
            mode=mode,
            on_outage=on_outage,
            blocks=blocks,
            broadcast=_broadcast(0) if is_distributed else None,
            leader=rank == 0,
            owns_client=owns,
        )
        self._start = 0
        self._check_at = -1
        self._floats: list[_Setter] = []
        self._tensors: list[tuple[torch.Tensor, list[float | None]]] = []
        self._betas: list[tuple[dict[str, Any], list[float | None]]] = []
        self._groups: list[dict[str, Any]] = []
        self._group_count = 0
        self._no_decay: set[int] = set()
        """Positions of the groups a ``weight_decay`` curve leaves alone (0.0 when first seen)."""
        self._seen_groups = 0
        super().__init__(optimizer, last_epoch)

    @property
    def client(self) -> Client:
        return self._engine.client

    @property
    def source(self) -> str:
        """Where the current values come from: ``server``, ``extrapolated`` or ``held``."""
        block = self._engine.block
        return block.source if block is not None else "server"

    def report(self, value: float, name: str | None = None) -> None:
        """Report a metric (``POST /v1/runs/{run}/metrics``, for reduce-on-plateau runs) for the
        last step trained, without moving on: for loops that step every batch and validate
        every so often, such as Lightning's. Rank 0 reports; an outage warns once, as
        :meth:`step` does."""
        self._engine.report(max(self.last_epoch - 1, 0), name or self.metric, float(value))

    def step(self, metric: float | None = None) -> None:
        """Move to the next step and set its values; with ``metric``, first report it for the
        step just done (``POST /v1/runs/{run}/metrics``, for reduce-on-plateau runs)."""
        if metric is not None:
            self._engine.report(self.last_epoch, self.metric, float(metric))
        self._step_count += 1
        step = self.last_epoch + 1
        self.last_epoch = step
        if not self._start <= step < self._check_at:
            self._bind(self._engine.advance(step))
        elif (
            self.optimizer.param_groups is not self._groups
            or len(self.optimizer.param_groups) != self._group_count
        ):
            # Replaced (Optimizer.load_state_dict, accelerate) or added to (add_param_group, to
            # unfreeze a backbone): point at the groups there are now, on every rank alike.
            self._bind(self._engine.block)
        i = step - self._start
        for group, key, column in self._floats:
            value = column[i]
            if value is not None:
                group[key] = value
        for tensor, column in self._tensors:
            value = column[i]
            if value is not None:
                tensor.fill_(value)
        for group, column in self._betas:
            value = column[i]
            if value is not None:
                group["betas"] = (value, *group["betas"][1:])

    def _bind(self, block: Block | None) -> None:
        """Point the setters at ``block``'s lists for every parameter group."""
        assert block is not None
        groups = self.optimizer.param_groups
        lr_columns = group_columns(block, [g.get("name") for g in groups], len(groups))
        floats: list[_Setter] = []
        tensors: list[tuple[torch.Tensor, list[float | None]]] = []
        betas: list[tuple[dict[str, Any], list[float | None]]] = []
        owned: set[int] = set()
        # No-decay groups only beside decay groups: where every group's weight_decay is 0
        # (SGD's default), a weight_decay curve sets them all.
        if any("weight_decay" in g and not _is_zero(g["weight_decay"]) for g in groups):
            for i in range(self._seen_groups, len(groups)):
                if _is_zero(groups[i].get("weight_decay")):
                    self._no_decay.add(i)
        self._seen_groups = max(self._seen_groups, len(groups))

        def own(tensor: torch.Tensor) -> torch.Tensor:
            # torch puts a tensor given as a default (lr=torch.tensor(...)) in every group:
            # filled in place, each group would get the last group's value.
            if id(tensor) in owned:
                tensor = tensor.clone()
            owned.add(id(tensor))
            return tensor

        def setter(group: dict[str, Any], key: str, column: list[float | None]) -> None:
            current = group[key]
            if isinstance(current, torch.Tensor):
                group[key] = own(current)
                tensors.append((group[key], column))
            else:
                floats.append((group, key, column))

        for i, (group, lr) in enumerate(zip(groups, lr_columns, strict=True)):
            setter(group, "lr", lr)
            for name, column in block.values.items():
                if name == "lr" or (name == "weight_decay" and i in self._no_decay):
                    continue
                if name == "momentum" and "momentum" not in group and "betas" in group:
                    beta = group["betas"][0]
                    if isinstance(beta, torch.Tensor):
                        mine = own(beta)
                        if mine is not beta:
                            group["betas"] = (mine, *group["betas"][1:])
                        tensors.append((mine, column))
                    else:
                        betas.append((group, column))
                elif name in group and name not in ("params", "name", "initial_lr"):
                    setter(group, name, column)
        self._floats, self._tensors, self._betas = floats, tensors, betas
        self._groups = groups
        self._group_count = len(groups)
        self._start = block.start
        self._check_at = self._engine.check_at

    def _update_lr(self, epoch: int | None = None) -> None:
        # torch's SequentialLR starts a scheduler at its milestone with _update_lr(0): set
        # every value of that step (the base class would only copy get_lr()).
        if epoch is not None:
            self.last_epoch = epoch - 1
        self.step()

    def get_lr(self) -> list[float | torch.Tensor]:
        """The lr of each parameter group at the current step."""
        return self.get_last_lr()

    def get_last_lr(self) -> list[float | torch.Tensor]:
        """The lr each parameter group holds now (tensors copied, as torch does)."""
        return [
            g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"]
            for g in self.optimizer.param_groups
        ]

    def state_dict(self) -> dict[str, Any]:
        """The step (``last_epoch``) and the run: all a resumed job needs."""
        return {"run": self.run, "last_epoch": self.last_epoch, "_step_count": self._step_count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue at the saved step: the next :meth:`step` sets the next step's values.

        As with torch's own schedulers, only the scheduler's state is restored: the optimizer is
        left alone and the server is not asked. Restore the optimizer's ``state_dict`` too (as
        torch, HF ``Trainer`` and Lightning resumes do): it holds the values this scheduler
        set, and, inside ``SequentialLR``, those a scheduler after this one compounds from. A
        saved step before 0 (inside ``SequentialLR``, before this scheduler's milestone) is
        restored as it is."""
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", self._step_count))
        self._check_at = -1

    def close(self) -> None:
        """Close the client if this scheduler made it."""
        self._engine.close()
