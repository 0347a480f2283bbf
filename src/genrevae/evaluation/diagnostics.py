"""What the trained model itself shows: active latent units (posterior collapse), KL per
dimension, reconstruction error, and latent traversals."""

from __future__ import annotations

import numpy as np
import torch

from genrevae.models.base import LatentModel


@torch.no_grad()
def latent_diagnostics(
    model: LatentModel, x: np.ndarray, *, c: np.ndarray | None = None,
    observed: np.ndarray | None = None, active_threshold: float = 0.01,
) -> dict:
    """On the rows of ``x`` (use the test split):

    - ``active_units``: dimensions whose posterior mean varies across inputs,
      Var_x(E[z|x]) > ``active_threshold`` (Burda et al., 2016); collapsed ones do not;
    - ``kl_per_dim`` and ``kl``: mean KL to the prior per dimension and in total (0 for the
      autoencoder, which has no prior);
    - ``recon_mse``: mean squared reconstruction error over observed entries, decoding
      the posterior mean.
    """
    model.eval()
    mu, logvar = model.encode_rows(x, c, batch_size=1024)
    kl_dim, kl_extra = model.kl(mu, logvar, mu)
    ct = None if c is None else torch.as_tensor(np.asarray(c, dtype=np.float32))
    recon = model.decode(mu, ct).numpy()
    err = (np.asarray(x, dtype=np.float32) - recon) ** 2
    if observed is not None:
        err = err[np.asarray(observed, dtype=bool)]
    variance = mu.var(dim=0, unbiased=False) if len(mu) > 1 else torch.zeros(mu.shape[1])
    return {
        "active_units": int((variance > active_threshold).sum()),
        "latent_dim": int(mu.shape[1]),
        "kl": float((kl_dim.sum(dim=1) + kl_extra).mean()),
        "kl_per_dim": [float(v) for v in kl_dim.mean(dim=0)],
        "recon_mse": float(err.mean()) if err.size else float("nan"),
    }


@torch.no_grad()
def traversals(
    model: LatentModel, z: np.ndarray, *, n_dims: int = 3, steps: int = 7,
    c: np.ndarray | None = None,
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Decode the mean latent moved along each of the ``n_dims`` most varying dimensions
    from -2 to +2 standard deviations. Returns (dims, offsets (steps,), decoded
    (n_dims, steps, *output_shape))."""
    std = z.std(axis=0)
    dims = [int(d) for d in np.argsort(-std)[:n_dims]]
    offsets = np.linspace(-2.0, 2.0, steps)
    center = z.mean(axis=0)
    grid = np.repeat(center[None, None, :], len(dims), axis=0).repeat(steps, axis=1)
    for i, d in enumerate(dims):
        grid[i, :, d] += offsets * std[d]
    flat = torch.as_tensor(grid.reshape(-1, z.shape[1]), dtype=torch.float32)
    ct = None
    if c is not None:  # a cvae decodes under its most common condition
        common = np.zeros(c.shape[1], dtype=np.float32)
        common[int(np.asarray(c).sum(axis=0).argmax())] = 1.0
        ct = torch.as_tensor(np.repeat(common[None], len(flat), axis=0))
    decoded = model.decode(flat, ct).numpy()
    return dims, offsets, decoded.reshape(len(dims), steps, *decoded.shape[1:])
