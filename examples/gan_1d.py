"""A tiny 1-D GAN in NumPy that learns a Gaussian's mean, with fastloss's GAN losses.

    python examples/gan_1d.py [--steps 3000] [--seed 0]

Data: x ~ N(4, 1.25^2). The generator G (noise z ~ N(0, 1) in R^4 -> 1 value) and the
discriminator D (1 value -> 1 logit) are two-layer MLPs with leaky ReLUs, with the
backpropagation written by hand. Each step:

* the discriminator minimises ``gan_discriminator(D(x), D(G(z)), kind="standard")``:
  ``value_and_grad`` gives the loss and its gradients with respect to the real and the fake
  logits, which are backpropagated through D;
* the generator minimises ``gan_generator(D(G(z)), kind="non_saturating")``: the gradient
  with respect to the fake logits is backpropagated through D (to its input) and then G.

Both use Adam. The generator that is evaluated is an exponential moving average of its
weights (a standard GAN stabiliser: the raw iterates circle the equilibrium). Prints the mean
and standard deviation the generator reached.
"""

from __future__ import annotations

import argparse

import numpy as np

import fastloss

TARGET_MEAN, TARGET_STD = 4.0, 1.25
SLOPE = 0.2  # leaky ReLU


class MLP:
    """``out = W2 @ lrelu(W1 @ x + b1) + b2`` on batches of rows, with hand-written backprop."""

    def __init__(self, rng, n_in, n_hidden, n_out):
        self.p = {
            "W1": rng.standard_normal((n_in, n_hidden)) * np.sqrt(2.0 / n_in),
            "b1": np.zeros(n_hidden),
            "W2": rng.standard_normal((n_hidden, n_out)) * np.sqrt(1.0 / n_hidden),
            "b2": np.zeros(n_out),
        }

    def forward(self, x):
        h = x @ self.p["W1"] + self.p["b1"]
        a = np.where(h > 0, h, SLOPE * h)
        return a @ self.p["W2"] + self.p["b2"], (x, h, a)

    def backward(self, g_out, cache):
        """Gradients of the parameters and of the input, given d(loss)/d(out)."""
        x, h, a = cache
        g_a = g_out @ self.p["W2"].T
        g_h = g_a * np.where(h > 0, 1.0, SLOPE)
        grads = {"W2": a.T @ g_out, "b2": g_out.sum(0), "W1": x.T @ g_h, "b1": g_h.sum(0)}
        return grads, g_h @ self.p["W1"].T


class Adam:
    def __init__(self, params, lr, betas=(0.5, 0.999), eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, betas[0], betas[1], eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params, grads):
        self.t += 1
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            mh = self.m[k] / (1 - self.b1**self.t)
            vh = self.v[k] / (1 - self.b2**self.t)
            params[k] -= self.lr * mh / (np.sqrt(vh) + self.eps)


def train(steps=3000, seed=0, batch=128, z_dim=4):
    rng = np.random.default_rng(seed)
    G = MLP(rng, z_dim, 16, 1)
    D = MLP(rng, 1, 32, 1)
    opt_g, opt_d = Adam(G.p, 1e-3), Adam(D.p, 1e-3)
    ema = {k: v.copy() for k, v in G.p.items()}
    for step in range(steps):
        # discriminator step
        x_real = TARGET_MEAN + TARGET_STD * rng.standard_normal((batch, 1))
        x_fake, _ = G.forward(rng.standard_normal((batch, z_dim)))
        r, cache_r = D.forward(x_real)
        f, cache_f = D.forward(x_fake)
        loss_d, (g_r, g_f) = fastloss.gan_discriminator.value_and_grad(r, f, kind="standard")
        grads_r, _ = D.backward(g_r, cache_r)
        grads_f, _ = D.backward(g_f, cache_f)
        opt_d.step(D.p, {k: grads_r[k] + grads_f[k] for k in grads_r})
        # generator step: through D (frozen) to G
        x_fake, cache_g = G.forward(rng.standard_normal((batch, z_dim)))
        f, cache_f = D.forward(x_fake)
        loss_g, g_f = fastloss.gan_generator.value_and_grad(f, kind="non_saturating")
        _, g_x = D.backward(g_f, cache_f)
        grads_g, _ = G.backward(g_x, cache_g)
        opt_g.step(G.p, grads_g)
        decay = min(0.999, (1 + step) / (10 + step))
        for k in ema:
            ema[k] = decay * ema[k] + (1 - decay) * G.p[k]
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step:5d}  D loss {loss_d:.4f}  G loss {loss_g:.4f}  "
                  f"batch mean of G(z) {x_fake.mean():+.3f}")
    G.p = ema
    samples, _ = G.forward(np.random.default_rng(seed + 1).standard_normal((200_000, z_dim)))
    return float(samples.mean()), float(samples.std())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    mean, std = train(args.steps, args.seed)
    print(f"learned mean {mean:.4f} (target {TARGET_MEAN}), error {abs(mean - TARGET_MEAN):.4f};"
          f" learned std {std:.4f} (target {TARGET_STD})")


if __name__ == "__main__":
    main()
