"""Invariance properties of ``ipd.pool()`` (hypothesis, small sizes).

* the result does not depend on the order of the studies;
* adding c to every estimate shifts the estimate and its CI by c and leaves se, tau², Q alone;
* multiplying estimates by a and variances by a² multiplies the estimate by a, the se by |a|,
  tau² by a², and leaves Q, I², |z| and the p-value alone;
* common-effect (and random-effects) study weights sum to 100 percent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ipdmeta as ipd

METHODS = ["common", "DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS", "GENQ"]
CIS = ["z", "hksj"]
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)

# Iterative estimators converge to a tolerance, so compare with a small relative slack.
RTOL = 1e-6


@st.composite
def study_tables(draw, min_k: int = 3, max_k: int = 8) -> pd.DataFrame:
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False),
                       min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.01, 1.0, allow_nan=False, allow_subnormal=False),
                       min_size=k, max_size=k))
    assume(np.ptp(yi) > 1e-3)  # all-equal estimates: Q = 0, SJ undefined
    return pd.DataFrame({"study": [f"S{i + 1}" for i in range(k)], "yi": yi, "vi": vi})


def pool(frame: pd.DataFrame, method: str, ci: str):
    return ipd.pool(frame, estimate="yi", variance="vi", study="study", method=method,
                    ci=ci, pi="metafor").overall


def close(a: float, b: float, scale: float = 1.0) -> bool:
    """Equal up to RTOL relative, with an absolute floor proportional to ``scale``."""
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-8 * scale)


def check(pairs: dict[str, tuple[float, float, float]]) -> None:
    bad = {k: (a, b) for k, (a, b, s) in pairs.items() if not close(a, b, s)}
    assert not bad, f"differ: {bad}"


@SETTINGS
@given(frame=study_tables(), method=st.sampled_from(METHODS), ci=st.sampled_from(CIS),
       perm=st.randoms(use_true_random=False))
def test_study_order_does_not_matter(frame, method, ci, perm) -> None:
    order = list(range(len(frame)))
    perm.shuffle(order)
    a = pool(frame, method, ci)
    b = pool(frame.iloc[order].reset_index(drop=True), method, ci)
    check({f: (getattr(a, f), getattr(b, f), 1.0)
           for f in ("estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "Q", "I2", "H2")})


@SETTINGS
@given(frame=study_tables(), method=st.sampled_from(METHODS), ci=st.sampled_from(CIS),
       c=st.floats(-10.0, 10.0, allow_nan=False))
def test_shift_by_constant(frame, method, ci, c) -> None:
    a = pool(frame, method, ci)
    shifted = frame.assign(yi=frame["yi"] + c)
    b = pool(shifted, method, ci)
    check({
        "estimate": (b.estimate, a.estimate + c, 1 + abs(c)),
        "ci_low": (b.ci_low, a.ci_low + c, 1 + abs(c)),
        "ci_high": (b.ci_high, a.ci_high + c, 1 + abs(c)),
        "se": (b.se, a.se, 1.0),
        "tau2": (b.tau2, a.tau2, 1.0),
        "Q": (b.Q, a.Q, 1.0),
    })


@SETTINGS
@given(frame=study_tables(), method=st.sampled_from(METHODS), ci=st.sampled_from(CIS),
       a=st.one_of(st.floats(-5.0, -0.2), st.floats(0.2, 5.0)))
def test_scale(frame, method, ci, a) -> None:
    x = pool(frame, method, ci)
    scaled = frame.assign(yi=frame["yi"] * a, vi=frame["vi"] * a * a)
    y = pool(scaled, method, ci)
    check({
        "estimate": (y.estimate, a * x.estimate, abs(a)),
        "se": (y.se, abs(a) * x.se, abs(a)),
        "tau2": (y.tau2, a * a * x.tau2, a * a),
        "Q": (y.Q, x.Q, 1.0),
        "I2": (y.I2, x.I2, 100.0),
        "|z|": (abs(y.z_or_t), abs(x.z_or_t), 1.0),
        "pvalue": (y.pvalue, x.pvalue, 1.0),
    })
    assert np.sign(y.z_or_t) == np.sign(a) * np.sign(x.z_or_t) or x.z_or_t == 0


@SETTINGS
@given(frame=study_tables(min_k=2), method=st.sampled_from(["common", "DL", "REML"]))
def test_weights_sum_to_100(frame, method) -> None:
    m = ipd.pool(frame, estimate="yi", variance="vi", study="study", method=method)
    w = m.studies["weight"].to_numpy(dtype=float)
    assert len(w) == len(frame)
    assert np.all(w > 0)
    assert math.isclose(w.sum(), 100.0, abs_tol=1e-9)
