"""Fit the polynomial coefficients used by ``fastloss/_kernels/scalar.py`` (needs mpmath).

exp: ``exp(r) = 1 + r + r^2 P(r)`` on ``|r| <= ln2/2``; P of degree 9 (float64) and 4 (float32).
log: ``log(1+f) = f - (f^2/2 - s (f^2/2 + z Q(z)))``, ``s = f/(2+f)``, ``z = s^2`` on
``z <= (3 - 2 sqrt 2)^2``; Q of degree 6 (float64) and 3 (float32).
Coefficients are printed constant term first. ``mpmath.chebyfit`` gives a near-minimax
(Chebyshev least-squares) fit; the printed error bounds are those of the polynomial alone.

    python tools/fit_scalar_polys.py
"""

import mpmath as mp

mp.mp.dps = 60


def _exp_p(r):
    r = mp.mpf(r)
    if abs(r) < mp.mpf("1e-5"):  # series: no cancellation near 0
        return mp.nsum(lambda k: r ** int(k) / mp.factorial(int(k) + 2), [0, 60])
    return (mp.exp(r) - 1 - r) / r**2


def _log_q(z):
    z = mp.mpf(z)
    if z == 0:
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (2 * mp.atanh(s) - 2 * s) / (s * z)


def main():
    a = mp.log(2) / 2
    for deg in (9, 4):
        poly, err = mp.chebyfit(_exp_p, [-a, a], deg + 1, error=True)
        print(f"exp P degree {deg} (error {mp.nstr(err * a * a, 3)}):")
        print("   ", [repr(float(c)) for c in poly][::-1])
    zmax = (3 - 2 * mp.sqrt(2)) ** 2
    for deg in (6, 3):
        poly, err = mp.chebyfit(_log_q, [0, zmax], deg + 1, error=True)
        print(f"log Q degree {deg} (error {mp.nstr(err * zmax * mp.sqrt(zmax), 3)}):")
        print("   ", [repr(float(c)) for c in poly][::-1])


if __name__ == "__main__":
    main()
