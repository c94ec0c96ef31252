"""The dual form of a gradient-trained linear layer: a key-value memory over its training patterns.

Irie, Csordás, Schmidhuber, "The Dual Form of Neural Networks Revisited: Connecting Test Time
Predictions to Training Patterns via Spotlights of Attention", ICML 2022, arXiv:2202.05798.

A linear layer ``y = W x`` trained by plain gradient descent receives, at each step, the update
``−η ∂L/∂W = Σ_t e_t x_tᵀ`` with ``e_t = −η ∂L/∂y_t`` (the learning rate times the negative
gradient w.r.t. the layer's output for its input ``x_t``). After training,

    W_T = W_0 + Σ_t e_t x_tᵀ        so        W_T x = W_0 x + Σ_t e_t (x_tᵀ x):

unnormalised dot attention over every training input (keys ``x_t``) with the error signals as
values. A bias is the weight on a constant input 1, so its key has a 1 appended.

``record_dual(model, "name.of.linear", optimizer)`` records the keys and values while the usual
loop runs (a forward hook on the layer's input, a hook on its output's gradient, and an optimizer
step pre-hook that reads the learning rate and checks that the recorded pairs explain the
layer's gradient exactly). Only ``torch.optim.SGD`` with ``momentum=0``, ``weight_decay=0`` and
``maximize=False`` is supported: momentum, weight decay and adaptive optimizers make the update
something other than ``Σ_t e_t x_tᵀ`` of that step's patterns, and are refused at construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

_UNSUPPORTED = {"momentum": 0.0, "weight_decay": 0.0, "maximize": False}  # their plain values


@dataclass(frozen=True)
class DualMemory:
    """The dual form of one linear layer after training.

    ``keys [N, I(+1)]``: the recorded training inputs (a 1 appended when the layer has a bias);
    ``values [N, O]``: ``e_t = −η_t ∂L/∂y_t``; ``weight0 [O, I(+1)]``: the initial weight (bias
    as its last column); ``step [N]``: the optimizer step each pattern was used in; ``call [N]``:
    the forward call of the layer it came from (counted from the start of recording); ``row
    [N]``: its position in that call's input, flattened over the leading dimensions.
    """

    keys: Tensor
    values: Tensor
    weight0: Tensor
    step: Tensor
    call: Tensor
    row: Tensor
    bias: bool

    def augment(self, x: Tensor) -> Tensor:
        """``x [..., I]`` as keys are stored: with a 1 appended when the layer has a bias."""
        if x.shape[-1] + int(self.bias) != self.keys.shape[1]:
            raise ValueError(
                f"expected inputs with {self.keys.shape[1] - int(self.bias)} features, got "
                f"shape {tuple(x.shape)}"
            )
        x = x.to(self.keys.dtype)
        if self.bias:
            x = torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1)
        return x

    def weight(self) -> Tensor:
        """``W_T = W_0 + Σ_t e_t x_tᵀ`` ([O, I(+1)], bias as the last column)."""
        return self.weight0 + self.values.T @ self.keys

    def attention(self, x: Tensor) -> Tensor:
        """The unnormalised attention ``x_tᵀ x`` of each test input over the training inputs:
        ``x [M, I]`` -> ``[M, N]``."""
        return self.augment(x) @ self.keys.T

    def base(self, x: Tensor) -> Tensor:
        """The initial layer's part ``W_0 x`` (+ ``b_0``): ``[M, O]``."""
        return self.augment(x) @ self.weight0.T

    def output(self, x: Tensor) -> Tensor:
        """The dual form's output ``W_0 x + Σ_t e_t (x_tᵀ x)``: ``[M, O]``, equal to the trained
        layer's ``layer(x)`` (up to rounding)."""
        return self.base(x) + self.attention(x) @ self.values


@dataclass(frozen=True)
class Spotlight:
    """The ``k`` training patterns (or examples) that a test output spotlights most.

    ``index [M, k]``: key positions (or example ids when ``ids`` were given); ``attention [M, k]``:
    ``x_tᵀ x`` (summed over an example's occurrences); ``contribution [M, k, O]``: ``e_t (x_tᵀ
    x)`` (summed likewise); ``score [M, k]``: what they are ranked by (the signed contribution to
    the chosen output unit, or the contribution's norm); ``base [M, O]`` the initial layer's part
    and ``output [M, O]`` the whole dual output (``base`` plus every contribution).
    """

    index: Tensor
    attention: Tensor
    contribution: Tensor
    score: Tensor
    base: Tensor
    output: Tensor


def spotlight(
    memory: DualMemory,
    x: Tensor,
    k: int = 5,
    *,
    unit: Tensor | int | None = None,
    ids: Tensor | None = None,
    largest: bool = True,
) -> Spotlight:
    """Which training patterns test inputs ``x [M, I]`` spotlight: the top ``k`` by signed
    contribution ``e_t[unit] (x_tᵀ x)`` to output ``unit`` (an int, or one per test input, e.g.
    the predicted class; ``largest=False`` gives the most negative), or by ``‖e_t‖ |x_tᵀ x|`` when
    ``unit`` is None. With ``ids [N]`` (an example id per key, e.g. the dataset index of each
    training row), the occurrences of one example over epochs are summed first."""
    if x.ndim != 2:
        raise ValueError(f"expected test inputs [M, I], got shape {tuple(x.shape)}")
    attention = memory.attention(x)  # [M, N]
    values = memory.values  # [N, O]
    if ids is not None:
        if ids.shape != (values.shape[0],):
            raise ValueError(f"expected ids [{values.shape[0]}], got {tuple(ids.shape)}")
        ids = ids.to(torch.long)
        n_ids = int(ids.max()) + 1 if ids.numel() else 0
    contribution = attention[:, :, None] * values[None]  # [M, N, O]
    if ids is not None:
        # sum each example's occurrences: [M, N, ...] -> [M, n_ids, ...]
        contribution = contribution.new_zeros(x.shape[0], n_ids, values.shape[1]).index_add_(
            1, ids, contribution
        )
        attention = attention.new_zeros(x.shape[0], n_ids).index_add_(1, ids, attention)
    if unit is None:
        score = contribution.norm(dim=-1)
    else:
        units = torch.as_tensor(unit, dtype=torch.long).expand(x.shape[0])  # [M]
        score = contribution.gather(
            2, units[:, None, None].expand(-1, contribution.shape[1], 1)
        ).squeeze(2)  # [M, N']
    k = min(k, score.shape[1])
    top = score.topk(k, dim=1, largest=largest).indices  # [M, k]
    base = memory.base(x)
    return Spotlight(
        index=top,
        attention=attention.gather(1, top),
        contribution=contribution.gather(1, top[:, :, None].expand(-1, -1, values.shape[1])),
        score=score.gather(1, top),
        base=base,
        output=base + contribution.sum(1),
    )


def check_optimizer(optimizer: torch.optim.Optimizer, weight: nn.Parameter) -> dict[str, Any]:
    """The param group of ``optimizer`` holding ``weight``, if its update is plain SGD."""
    if type(optimizer) is not torch.optim.SGD:
        raise ValueError(
            f"the dual form needs plain torch.optim.SGD (no momentum, no weight decay), got "
            f"{type(optimizer).__name__}: its update is not Σ_t e_t x_tᵀ of the step's patterns"
        )
    for group in optimizer.param_groups:
        if any(p is weight for p in group["params"]):
            bad = {
                name: group.get(name)
                for name, plain in _UNSUPPORTED.items()
                if group.get(name, plain) != plain
            }
            if bad or group.get("nesterov"):
                raise ValueError(
                    f"the dual form supports SGD without momentum, weight decay or "
                    f"maximize; this param group has {bad or {'nesterov': True}}"
                )
            return group
    raise ValueError("the layer's weight is not among the optimizer's parameters")


class DualRecorder:
    """Records one ``nn.Linear``'s training patterns and error signals; see ``record_dual``."""

    def __init__(self, model: nn.Module, name: str, optimizer: torch.optim.Optimizer) -> None:
        modules = dict(model.named_modules())
        if name not in modules:
            linear = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            raise ValueError(f"no module named {name!r}; the nn.Linear modules are {linear}")
        layer = modules[name]
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"module {name!r} is a {type(layer).__name__}, not an nn.Linear")
        check_optimizer(optimizer, layer.weight)
        if layer.bias is not None:
            check_optimizer(optimizer, layer.bias)
        self.layer, self.optimizer = layer, optimizer
        self.weight0 = self._weight().detach().clone()
        self._pending: list[tuple[Tensor, Tensor, int]] = []  # (x, dL/dy, call) since last step
        self._keys: list[Tensor] = []
        self._values: list[Tensor] = []
        self._meta: list[Tensor] = []  # [n, 3] (step, call, row)
        self._calls = 0
        self._steps = 0
        self._handles = [
            layer.register_forward_hook(self._on_forward, with_kwargs=True),
            optimizer.register_step_pre_hook(self._on_step),
        ]

    def _weight(self) -> Tensor:
        """The layer's weight with the bias as its last column: ``[O, I(+1)]``."""
        w = self.layer.weight
        return w if self.layer.bias is None else torch.cat([w, self.layer.bias[:, None]], 1)

    def _on_forward(self, module: nn.Module, args: tuple, kwargs: dict, output: Tensor) -> None:
        if not output.requires_grad:
            return  # no gradient will come back (no_grad, or a frozen path)
        x = args[0] if args else kwargs["input"]  # nn.Linear.forward(input)
        x = x.detach().clone().reshape(-1, module.in_features)  # [..., I] -> [n, I]
        call = self._calls
        self._calls += 1

        def on_grad(grad: Tensor) -> None:
            self._pending.append((x, grad.detach().reshape(-1, module.out_features), call))

        output.register_hook(on_grad)

    def _on_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        group = check_optimizer(optimizer, self.layer.weight)
        lr = float(group["lr"])
        pending, self._pending = self._pending, []
        grad = self._gradient()
        if pending:
            keys = torch.cat([self._augment(x) for x, _, _ in pending])  # [n, I(+1)]
            grads = torch.cat([g.to(keys.dtype) for _, g, _ in pending])  # [n, O]
            explained = grads.T @ keys
        else:
            keys = grads = None
            explained = torch.zeros_like(self.weight0)
        if grad is not None:
            tol = 1e-9 if grad.dtype == torch.float64 else 1e-4
            scale = float(grad.abs().max()) + float(explained.abs().max()) + 1e-30
            if not torch.allclose(explained.to(grad.dtype), grad, rtol=tol, atol=tol * scale):
                raise RuntimeError(
                    "the recorded patterns do not explain the layer's gradient at this SGD step "
                    "(gradients kept across a zero_grad without a step, clipped or changed "
                    "gradients, or a backward pass begun before recording started)"
                )
        if keys is not None and grads is not None:
            self._keys.append(keys)
            self._values.append(-lr * grads)
            for x, _, call in pending:
                rows = torch.arange(x.shape[0])
                meta = torch.stack(
                    [torch.full_like(rows, self._steps), torch.full_like(rows, call), rows], 1
                )
                self._meta.append(meta)
        self._steps += 1

    def _gradient(self) -> Tensor | None:
        w, b = self.layer.weight.grad, None if self.layer.bias is None else self.layer.bias.grad
        if w is None and b is None:
            return None
        w = torch.zeros_like(self.layer.weight) if w is None else w
        if self.layer.bias is None:
            return w.detach()
        b = torch.zeros_like(self.layer.bias) if b is None else b
        return torch.cat([w, b[:, None]], 1).detach()

    def _augment(self, x: Tensor) -> Tensor:
        x = x.to(self.weight0.dtype)
        return x if self.layer.bias is None else torch.cat([x, x.new_ones(x.shape[0], 1)], 1)

    def memory(self) -> DualMemory:
        """The dual form of what was recorded so far (patterns of completed SGD steps)."""
        width, out = self.weight0.shape[1], self.weight0.shape[0]
        meta = torch.cat(self._meta) if self._meta else torch.zeros(0, 3, dtype=torch.long)
        return DualMemory(
            keys=torch.cat(self._keys) if self._keys else self.weight0.new_zeros(0, width),
            values=torch.cat(self._values) if self._values else self.weight0.new_zeros(0, out),
            weight0=self.weight0,
            step=meta[:, 0],
            call=meta[:, 1],
            row=meta[:, 2],
            bias=self.layer.bias is not None,
        )

    def remove(self) -> None:
        """Remove the hooks (recording stops; the memory so far stays)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> DualRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def record_dual(model: nn.Module, name: str, optimizer: torch.optim.Optimizer) -> DualRecorder:
    """Start recording the ``nn.Linear`` called ``name`` in ``model`` (its ``named_modules``
    name) while ``optimizer`` (plain SGD) trains it; use as ``with record_dual(...) as rec:``
    around the training loop, then ``rec.memory()``. The initial weight is taken now."""
    return DualRecorder(model, name, optimizer)
