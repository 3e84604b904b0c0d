"""SimCLR-style training steps in NumPy with ``fastloss.nt_xent`` gradients.

    python examples/simclr_step.py [--steps 300]

A linear encoder ``z = x @ W`` maps 32-dimensional inputs (8 clusters) to 16-dimensional
embeddings. Each step draws a batch, makes two augmented views of it (random feature
dropout and noise), and minimises SimCLR's NT-Xent loss between the two views' embeddings:
``nt_xent.value_and_grad(z1, z2)`` gives the loss and its gradients with respect to both
views' embeddings, and the chain rule gives ``dL/dW = x1.T @ g1 + x2.T @ g2``.

The first step is checked against PyTorch autograd when PyTorch is installed. Prints the
loss, how similar the two views of a sample are, and how often a sample's nearest
neighbour (in the learned embedding) belongs to its cluster, before and after training.
"""

from __future__ import annotations

import argparse

import numpy as np

import fastloss

D_IN, D_OUT, N_CLUSTERS, BATCH, TEMPERATURE = 32, 16, 8, 128, 0.2


def augment(rng, x):
    keep = rng.random(x.shape) > 0.2
    return x * keep / 0.8 + 0.3 * rng.standard_normal(x.shape)


def step_value_and_grad(W, x1, x2):
    """One SimCLR step: the loss and dL/dW through the linear encoder."""
    z1, z2 = x1 @ W, x2 @ W
    loss, (g1, g2) = fastloss.nt_xent.value_and_grad(z1, z2, temperature=TEMPERATURE)
    return loss, x1.T @ g1 + x2.T @ g2, (z1, z2, g1, g2)


def check_against_torch(W, x1, x2, z1, z2, g1, g2, loss):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return
    t1 = torch.tensor(z1, requires_grad=True)
    t2 = torch.tensor(z2, requires_grad=True)
    n = z1.shape[0]
    z = F.normalize(torch.cat([t1, t2]), dim=1)
    s = (z @ z.T / TEMPERATURE).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    tl = F.cross_entropy(s, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))
    tl.backward()
    err = max(np.abs(g1 - t1.grad.numpy()).max(), np.abs(g2 - t2.grad.numpy()).max())
    print(f"first step vs PyTorch autograd: loss {loss:.12f} vs {tl.item():.12f}, "
          f"max |grad difference| {err:.1e} (max |grad| {np.abs(g1).max():.1e})")


def evaluate(W, rng, centers):
    labels = rng.integers(0, N_CLUSTERS, 1000)
    x = centers[labels] + rng.standard_normal((1000, D_IN))
    a, b = augment(rng, x) @ W, augment(rng, x) @ W
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    pos_cos = float(np.mean(np.sum(a * b, axis=1)))
    sim = a @ a.T
    np.fill_diagonal(sim, -np.inf)
    knn = float(np.mean(labels[np.argmax(sim, axis=1)] == labels))
    return pos_cos, knn


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.05)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    centers = 1.5 * rng.standard_normal((N_CLUSTERS, D_IN))
    W = rng.standard_normal((D_IN, D_OUT)) / np.sqrt(D_IN)
    cos0, knn0 = evaluate(W, np.random.default_rng(1), centers)
    first = last = None
    for step in range(args.steps):
        x = centers[rng.integers(0, N_CLUSTERS, BATCH)] + rng.standard_normal((BATCH, D_IN))
        x1, x2 = augment(rng, x), augment(rng, x)
        loss, gW, (z1, z2, g1, g2) = step_value_and_grad(W, x1, x2)
        if step == 0:
            first = loss
            print(f"step 0: nt_xent {loss:.4f} over {2 * BATCH} views; "
                  f"|dL/dz1| = {np.linalg.norm(g1):.4f}, |dL/dz2| = {np.linalg.norm(g2):.4f}, "
                  f"|dL/dW| = {np.linalg.norm(gW):.4f}")
            check_against_torch(W, x1, x2, z1, z2, g1, g2, loss)
        W -= args.lr * gW
        last = loss
    cos1, knn1 = evaluate(W, np.random.default_rng(1), centers)
    print(f"after {args.steps} steps: nt_xent {first:.4f} -> {last:.4f}")
    print(f"cosine between two views of a sample: {cos0:.3f} -> {cos1:.3f}; "
          f"nearest neighbour in the same cluster: {knn0:.3f} -> {knn1:.3f}")


if __name__ == "__main__":
    main()
