"""Per-call overhead at n=100 (or 10 rows of 10): each public call against the bare kernel(s)
it runs (compiled, called directly with ready buffers), best of 7 x 20000 calls,
microseconds. The bare kernel is timed two ways: through Numba's dispatcher (which looks up
each argument's type, 0.2-0.3 us for a kernel of 11 or 12 arguments), and through the
machine code compiled for these argument types (what the serial fast paths call).

    python benchmarks/overhead_vs_bare.py
"""

from __future__ import annotations

import os
import timeit

import numpy as np

import fastloss as fl
from fastloss._exec.cpu import _dummy
from fastloss._kernels import cpu, rows
from fastloss._kernels.compile import compiled_for

rng = np.random.default_rng(0)
y, p, w = rng.standard_normal(100), rng.standard_normal(100), rng.random(100)
y32, p32 = y.astype(np.float32), p.astype(np.float32)
Y, P = y.reshape(10, 10), p.reshape(10, 10)
G = np.empty(100)
lab, z, w10 = rng.integers(0, 10, 10), rng.standard_normal((10, 10)), rng.random(10)
pt, qt = rng.random((10, 10)), rng.random((10, 10))
pt, qt = pt / pt.sum(1, keepdims=True), qt / qt.sum(1, keepdims=True)
x1, x2 = rng.standard_normal((10, 10)), rng.standard_normal((10, 10))
pm = np.where(rng.random(10) < 0.5, 1.0, -1.0)
W0 = np.zeros(1)
d = _dummy(np.dtype(np.float64))


def machine(k, *args):
    """``k(*args)`` through Numba's dispatcher, and through the machine code compiled for
    these arguments' types: a pair of calls."""
    k(*args)
    code = compiled_for(k, args)
    return lambda: k(*args), lambda: code(*args)


def pointwise_bare(scalar, prm, wmode=0, write_g=False, a=y, b=p, rows_of=0):
    """The kernel of a pointwise call on ``(a, b)`` (``rows_of``: axis=-1, rows of that
    length), called with ready buffers."""
    k = cpu.pointwise_kernel(scalar, parallel=False, reduce=True, rows=rows_of > 0,
                             write_l=False, write_g=write_g, write_h=False, wmode=wmode,
                             ybcast=False, has_cp=False)
    res, g = np.zeros(a.size // rows_of if rows_of else 1), np.empty(a.size, a.dtype)
    ww = w[:rows_of or 100] if wmode else None
    prm = tuple(a.dtype.type(v) for v in prm)
    n = rows_of or a.size
    af, bf = a.reshape(-1), b.reshape(-1)
    # (None for the arrays the kernel does not use, as the library passes them)
    return machine(k, af, bf, ww, None, prm, 1.0, n, None, g if write_g else None, None, res)


def row_bare(spec, prm, x, lab_=None, t=None, sw=None):
    """The row kernel of a row-wise call (10 rows), called with ready buffers."""
    k = rows.row_kernel(spec.row, parallel=False, write_g=False, write_h=False,
                        has_t=t is not None, has_lab=lab_ is not None, has_sw=sw is not None)
    lout, xf = np.empty(10), x.reshape(-1)
    tf = None if t is None else t.reshape(-1)
    return machine(k, xf, tf, lab_, W0, sw, prm, 0.1, 10, lout, d, d, False)


def terms_bare(loss, *arrays):
    """The term kernels of a "terms" loss with its default parameters, one per array."""
    spec = loss.spec
    terms = spec.terms_of({q.name: q.check(q.default) for q in spec.params})
    ks = [pointwise_bare(term.scalar, prm, a=a, b=a)
          for a, (term, prm) in zip(arrays, terms, strict=True)]
    return (lambda: [k[0]() for k in ks]), (lambda: [k[1]() for k in ks])


def cosine_bare():
    from fastloss.losses import contrastive as C

    k = cpu.body_kernel(C.cosine_row, False)
    lout, d2 = np.empty(10), np.empty((1, 1))
    return machine(k, x1, x2, pm, 0.0, C.COS_EPS, 0.1, False, lout, d2, d2)


CE, KL = fl.cross_entropy.spec, fl.kl_divergence.spec
# every row: (the public call, its bare kernel(s))
CASES = {
    "mse": (lambda: fl.mse(y, p), pointwise_bare(fl.mse.spec.scalar, (0.0,))),
    "huber(delta=1.0)": (lambda: fl.huber(y, p, delta=1.0),
                         pointwise_bare(fl.huber.spec.scalar, (1.0,))),
    "mse(sample_weight=w)": (lambda: fl.mse(y, p, sample_weight=w),
                             pointwise_bare(fl.mse.spec.scalar, (0.0,), wmode=1)),
    "mse.value_and_grad": (lambda: fl.mse.value_and_grad(y, p),
                           pointwise_bare(fl.mse.spec.scalar, (0.0,), write_g=True)),
    "mse.grad(out=g)": (lambda: fl.mse.grad(y, p, out=G),
                        pointwise_bare(fl.mse.spec.scalar, (0.0,), write_g=True)),
    "mse float32": (lambda: fl.mse(y32, p32),
                    pointwise_bare(fl.mse.spec.scalar, (0.0,), a=y32, b=p32)),
    "mse(axis=-1) (10x10)": (lambda: fl.mse(Y, P, axis=-1),
                             pointwise_bare(fl.mse.spec.scalar, (0.0,), a=Y, b=P,
                                            rows_of=10)),
    "cross_entropy (10x10)": (lambda: fl.cross_entropy(lab, z),
                              row_bare(CE, CE.fast_prm(10, {}), z, lab_=lab)),
    "cross_entropy(sample_weight=w) (10x10)": (
        lambda: fl.cross_entropy(lab, z, sample_weight=w10),
        row_bare(CE, CE.fast_prm(10, {}), z, lab_=lab, sw=w10)),
    "kl_divergence (10x10)": (lambda: fl.kl_divergence(pt, qt),
                              row_bare(KL, KL.prepare(pt, qt, {}).prm, qt, t=pt)),
    "cosine_embedding (10x10)": (lambda: fl.cosine_embedding(x1, x2, pm), cosine_bare()),
    "gan_discriminator (100 + 100)": (lambda: fl.gan_discriminator(y, p),
                                      terms_bare(fl.gan_discriminator, y, p)),
    "gan_generator (100)": (lambda: fl.gan_generator(p), terms_bare(fl.gan_generator, p)),
    "l1_penalty (100)": (lambda: fl.l1_penalty(p), terms_bare(fl.l1_penalty, p)),
}


def best(f, number=20000):
    f()
    f()
    return min(timeit.repeat(f, number=number, repeat=7)) / number * 1e6


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| call (n=100, serial) | public us | bare, dispatcher | overhead | bare, machine "
          "code | overhead |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (pub, (bare, code)) in CASES.items():
        tp, tb, tc = best(pub), best(bare), best(code)
        print(f"| {name} | {tp:.2f} | {tb:.2f} | {tp - tb:.2f} | {tc:.2f} | {tp - tc:.2f} |")
