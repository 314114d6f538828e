"""The vectorised mathematics of the shallow suite: loss gradients, adapters, AdamW.

Many networks ``f_m(x) = cᵀ σ(W_m x)`` that see the same inputs are trained at once:
a batch index ``b`` runs over (seed, task) pairs and a model index ``m`` over the models
that share that pair's data (the retraining methods, or the fine-tuned bases × ranks).
Everything is written by hand on batched tensors (no autograd, no per-model loop), so
one step costs two batched matrix products and three elementwise passes over the
``(b, m, d, n)`` pre-activations.

Gradient (docs/math.md notation; ``s_i = σ(W x_i)``, ``r_i = cᵀ s_i − y_i``): for the loss
``ω Σ_i r_i²`` of one model,

    ∂/∂W [ω Σ_i r_i²] = 2 ω diag(c) [ (S ⊙ (1 − S)) ⊙ 1 rᵀ ] X,

with ``S = σ(W Xᵀ)`` (d × n), ``X`` (n × d), using ``σ' = σ (1 − σ)``. The factor
``diag(c)`` is applied to the small d × d result instead of the d × n array.

Adapters (:data:`ADAPTERS`) map their factors to ``ΔW`` and pull ``G = ∂L/∂W`` back:
symmetric ``ΔW = UUᵀ`` with ``∂L/∂U = (G + Gᵀ) U``; asymmetric ``ΔW = BCᵀ`` with
``∂L/∂B = G C`` and ``∂L/∂C = Gᵀ B``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["stacked_loss_grad", "AdamW", "Adapter", "ADAPTERS"]


def stacked_loss_grad(W, Xt, X, y, c, weight, need_mse: bool = True):
    """Mean squared errors and weighted loss gradients of stacked sigmoid networks.

    Parameters
    ----------
    W : (B, M, d, d) tensor
        First-layer weights; ``M`` models share batch element ``b``'s data.
    Xt : (B, d, n) tensor
        Inputs, transposed (the layout the elementwise passes run fastest on).
    X : (B, n, d) tensor
        The same inputs.
    y : (B, n) tensor
        Targets.
    c : (B, d) tensor
        Readout of each batch element.
    weight : (M,) tensor
        Loss weight ``ω_m`` of each model (e.g. ``1/(T N)``).
    need_mse : bool
        Compute ``mse`` (else None is returned in its place).

    Returns
    -------
    mse : (B, M) tensor
        ``(1/n) Σ_i r_i²`` at ``W``.
    G : (B, M, d, d) tensor
        ``∂/∂W_m [ω_m Σ_i r_i²]``.
    """
    B, M, d, _ = W.shape
    n = Xt.shape[-1]
    S = torch.bmm(W.reshape(B, M * d, d), Xt).sigmoid_()  # (B, M d, n)
    cb = c.unsqueeze(1).expand(B, M, d).reshape(B * M, 1, d)
    r = torch.bmm(cb, S.view(B * M, d, n)).view(B, M, 1, n).sub_(y.view(B, 1, 1, n))
    # In place on S (no second (B, M d, n) buffer): σ'(z) = s − s², then times r.
    D = S.addcmul_(S, S, value=-1.0).view(B, M, d, n).mul_(r)
    G = torch.bmm(D.view(B, M * d, n), X).view(B, M, d, d)
    G.mul_(c.view(B, 1, d, 1) * (2.0 * weight).view(1, M, 1, 1))
    mse = torch.linalg.vector_norm(r, dim=-1).square_().div_(n).view(B, M) if need_mse else None
    return mse, G


class AdamW:
    """AdamW (Loshchilov & Hutter) on a list of tensors, updated in place.

    The same update as ``torch.optim.AdamW`` (non-AMSGrad): with gradient ``g`` at step
    ``t``, ``p ← p (1 − lr λ)``, ``m ← β₁ m + (1 − β₁) g``, ``v ← β₂ v + (1 − β₂) g²`` and
    ``p ← p − (lr / (1 − β₁ᵗ)) m / (√(v / (1 − β₂ᵗ)) + ε)``. Written out so that every
    model of a batch shares one set of kernel launches (the test suite compares it with
    ``torch.optim.AdamW``).
    """

    def __init__(self, params, *, lr: float, weight_decay: float = 0.0,
                 betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.beta1, self.beta2 = map(float, betas)
        self.eps = float(eps)
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def step(self, grads) -> None:
        self.t += 1
        bc1 = 1.0 - self.beta1**self.t
        bc2 = 1.0 - self.beta2**self.t
        step_size = self.lr / bc1
        root_bc2 = math.sqrt(bc2)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            if self.weight_decay:
                p.mul_(1.0 - self.lr * self.weight_decay)
            m.lerp_(g, 1.0 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
            denom = (v.sqrt() / root_bc2).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)


@dataclass(frozen=True)
class Adapter:
    """A low-rank adapter form: how its factors make ``ΔW`` and receive gradients.

    Attributes
    ----------
    name : str
    factors : int
        Number of factor tensors (each ``(..., d, k)``).
    """

    name: str
    factors: int

    def delta(self, F):
        """``ΔW`` (..., d, d) from the factors ``F`` (a tuple of (..., d, k) tensors)."""
        if self.name == "symmetric":
            (U,) = F
            return U @ U.transpose(-1, -2)
        B, C = F
        return B @ C.transpose(-1, -2)

    def grads(self, G, F):
        """Gradients of the factors from ``G = ∂L/∂W`` (..., d, d)."""
        if self.name == "symmetric":
            (U,) = F
            return ((G + G.transpose(-1, -2)) @ U,)
        B, C = F
        return (G @ C, G.transpose(-1, -2) @ B)


#: ``symmetric``: ``UUᵀ`` (the theory's adapters); ``asymmetric``: ``BCᵀ`` with the
#: up-projection ``B`` initialised at zero (LoRA's and the paper code's form).
ADAPTERS = {a.name: a for a in (Adapter("symmetric", 1), Adapter("asymmetric", 2))}
