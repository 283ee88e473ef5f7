"""Forest plots: structure of the drawn figure, options, saving, image regression."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.testing.compare import compare_images

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.plots import forest_plot
from ipdmeta.plots._forest_layout import nice_ticks
from ipdmeta.plots.forest import DEFAULT_COLORS

BASELINE_DIR = Path(__file__).parent / "baseline"
_spec = importlib.util.spec_from_file_location("make_baselines",
                                               BASELINE_DIR / "make_baselines.py")
baselines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baselines)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def bcg() -> ipd.MetaResult:
    return ipd.pool(baselines.bcg_frame(), estimate="yi", variance="vi", study="label",
                    measure="RR")


@pytest.fixture(scope="module")
def bcg_by() -> ipd.MetaResult:
    return ipd.pool(baselines.bcg_frame(), estimate="yi", variance="vi", study="label",
                    by="alloc", measure="RR")


@pytest.fixture(scope="module")
def hr() -> ipd.MetaResult:
    return ipd.pool(baselines.HR_TRIALS, method="REML", ci="hksj", measure="HR")


@pytest.fixture(scope="module")
def md() -> ipd.MetaResult:
    return ipd.pool(baselines.MD_TRIALS, method="DL", measure="MD")


# ------------------------------------------------------------------ helpers

def panel(fig: Figure) -> Axes:
    (ax,) = [a for a in fig.findobj(Axes) if a.get_gid() == "forest-panel"]
    return ax


def by_gid(fig: Figure, gid: str) -> list:
    return [a for a in fig.findobj(lambda o: o.get_gid() == gid)]


def boxes(fig: Figure) -> PathCollection:
    (coll,) = by_gid(fig, "forest-boxes")
    return coll


def texts(fig: Figure) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in fig.findobj(matplotlib.text.Text):
        if t.get_text():
            out.setdefault(t.get_text(), []).append(t)
    return out


def diamonds(fig: Figure, role: str) -> list[Polygon]:
    return by_gid(fig, f"forest-diamond-{role}")


def display_bbox(fig: Figure, t: matplotlib.text.Text):
    return t.get_window_extent(fig.canvas.get_renderer())


# ------------------------------------------------------------------ study rows

def test_one_box_per_study_in_row_order(bcg):
    fig = forest_plot(bcg)
    offsets = boxes(fig).get_offsets()
    assert len(offsets) == bcg.k == 13
    y = np.asarray(offsets[:, 1])
    assert np.all(np.diff(y) > 0)  # rows go down the page (y axis inverted)
    assert panel(fig).yaxis_inverted()
    np.testing.assert_allclose(offsets[:, 0], np.exp(bcg.studies.estimate))
    # each box sits on the row of its label
    found = texts(fig)
    for label, yy in zip(bcg.studies.study, y, strict=True):
        (t,) = found[label]
        assert t.get_position()[1] == pytest.approx(yy)


def test_box_area_is_proportional_to_weight(bcg):
    fig = forest_plot(bcg)
    sizes = boxes(fig).get_sizes()  # marker area in points²
    w = bcg.studies.weight.to_numpy()
    assert np.array_equal(np.argsort(sizes, kind="stable"), np.argsort(w, kind="stable"))
    np.testing.assert_allclose(sizes / w, (sizes / w)[0], rtol=1e-9)
    bigger = boxes(forest_plot(bcg, box_scale=1.5)).get_sizes()
    np.testing.assert_allclose(bigger, sizes * 1.5**2, rtol=1e-9)


def test_confidence_intervals_are_drawn_at_the_study_limits(bcg):
    fig = forest_plot(bcg, xlim=(0.01, 100))
    (ci,) = by_gid(fig, "forest-ci")
    segs = np.array(ci.get_segments())
    np.testing.assert_allclose(segs[:, 0, 0], np.exp(bcg.studies.ci_low))
    np.testing.assert_allclose(segs[:, 1, 0], np.exp(bcg.studies.ci_high))
    assert not by_gid(fig, "forest-arrows")


def test_arrows_where_intervals_leave_the_axis(bcg):
    fig = forest_plot(bcg, xlim=(0.1, 2))
    low = np.exp(bcg.studies.ci_low.to_numpy())
    high = np.exp(bcg.studies.ci_high.to_numpy())
    n_arrows = sum(len(line.get_xdata()) for line in by_gid(fig, "forest-arrows"))
    assert n_arrows == int(np.sum(low < 0.1) + np.sum(high > 2)) > 0
    (ci,) = by_gid(fig, "forest-ci")
    xs = np.array(ci.get_segments())[:, :, 0]
    assert xs.min() >= 0.1 - 1e-12 and xs.max() <= 2 + 1e-12


def test_labels_and_estimate_text(bcg):
    fig = forest_plot(bcg, digits=2)
    found = texts(fig)
    for label in bcg.studies.study:
        assert label in found
    assert "RR (95% CI)" in found and "Weight (%)" in found and "Study" in found
    aronson = bcg.studies.iloc[0]
    assert f"{np.exp(aronson.estimate):.2f}" in found
    assert f"({np.exp(aronson.ci_low):.2f}," in found
    assert f"{np.exp(aronson.ci_high):.2f})" in found
    assert f"{aronson.weight:.1f}" in found
    assert found["Study"][0].get_fontweight() in ("bold", 700)


def test_numbers_are_right_aligned_in_their_columns(hr):
    fig = forest_plot(hr, left_columns=["n"])
    fig.canvas.draw()
    found = texts(fig)
    weights = [found[f"{w:.1f}"][0] for w in hr.studies.weight]
    rights = {round(display_bbox(fig, t).x1, 1) for t in weights}
    assert max(rights) - min(rights) < 1.0  # pixels
    ns = [found[str(n)][0] for n in baselines.HR_TRIALS.n]
    assert len({round(display_bbox(fig, t).x1, 1) for t in ns}) == 1 or np.ptp(
        [display_bbox(fig, t).x1 for t in ns]) < 1.0


def test_text_columns_do_not_overlap(md):
    fig = forest_plot(md, left_columns=["intervention", "n"])
    fig.canvas.draw()
    found = texts(fig)
    ax_box = panel(fig).get_window_extent()
    for study in md.studies.itertuples():
        label = display_bbox(fig, found[study.study][0])
        intervention = [t for t in found[md.data.set_index("study").intervention[study.study]]
                        if abs(t.get_position()[1] - found[study.study][0].get_position()[1])
                        < 1e-9]
        assert label.x1 < display_bbox(fig, intervention[0]).x0
        estimate = found[f"{study.estimate:.2f}".replace("-", "\u2212")]
        assert all(display_bbox(fig, t).x0 > ax_box.x1 for t in estimate)


# ------------------------------------------------------------------ axis

def test_ratio_measures_get_a_log_axis(bcg, md):
    assert panel(forest_plot(bcg)).get_xscale() == "log"
    assert panel(forest_plot(bcg, eform=False)).get_xscale() == "linear"
    assert panel(forest_plot(md)).get_xscale() == "linear"
    assert panel(forest_plot(md, measure="OR")).get_xscale() == "log"


def test_given_xticks_are_labelled_on_the_display_scale(hr):
    fig = forest_plot(hr, xticks=[0.2, 0.5, 1, 2], xlabel="Hazard ratio (95% CI)")
    ax = panel(fig)
    np.testing.assert_allclose(ax.get_xticks(), [0.2, 0.5, 1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.2", "0.5", "1", "2"]
    assert ax.get_xlim() == pytest.approx((0.2, 2))
    assert "Hazard ratio (95% CI)" in texts(fig)
    with pytest.raises(ValueError, match="positive"):
        forest_plot(hr, xticks=[0, 1, 2])


def test_automatic_axis_covers_the_pooled_result_and_the_null(bcg, md):
    for m in (bcg, md):
        ax = panel(forest_plot(m))
        lo, hi = ax.get_xlim()
        null = 1.0 if m.eform_default else 0.0
        to = np.exp if m.eform_default else (lambda v: v)
        assert lo <= null <= hi
        assert lo <= to(m.overall.pi_low) and to(m.overall.pi_high) <= hi
        assert lo <= to(m.studies.estimate.min()) and to(m.studies.estimate.max()) <= hi
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert len(labels) >= 3 and all(labels)
    assert "\u2212" in "".join(t.get_text() for t in panel(forest_plot(md)).get_xticklabels())


@pytest.mark.parametrize(("lo", "hi", "log"), [(0.07, 6.5, True), (0.37, 1.88, True),
                                                (0.8, 1.25, True), (1e-4, 1e4, True),
                                                (-3.2, 1.4, False), (-0.01, 0.02, False)])
def test_nice_ticks_enclose_the_range(lo, hi, log):
    ticks = nice_ticks(lo, hi, log)
    assert 2 <= len(ticks) <= 8
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert ticks == sorted(ticks)


def test_null_and_pooled_lines(bcg, md):
    fig = forest_plot(bcg, pooled_line=True)
    (null,) = by_gid(fig, "forest-null")
    assert set(null.get_xdata()) == {1.0}
    (line,) = by_gid(fig, "forest-pooled-line")
    np.testing.assert_allclose(line.get_xdata(), math.exp(bcg.overall.estimate))
    assert line.get_linestyle() == "--"
    (null,) = by_gid(forest_plot(md), "forest-null")
    assert set(null.get_xdata()) == {0.0}
    assert not by_gid(forest_plot(md, null_line=False), "forest-null")


def test_favours_labels_either_side_of_the_null(bcg):
    fig = forest_plot(bcg, favours=("Favours BCG", "Favours control"))
    fig.canvas.draw()
    found = texts(fig)
    left = display_bbox(fig, found["Favours BCG"][0])
    right = display_bbox(fig, found["Favours control"][0])
    ax = panel(fig)
    null_px = ax.transData.transform((1.0, 0))[0]
    assert left.x1 < null_px < right.x0
    assert left.y1 < ax.get_window_extent().y0  # under the axis


# ------------------------------------------------------------------ pooled rows

def test_diamond_vertices_are_the_pooled_interval(bcg):
    fig = forest_plot(bcg)
    (d,) = diamonds(fig, "overall")
    xs = d.get_xy()[:, 0]
    o = bcg.overall
    np.testing.assert_allclose(sorted(set(np.round(xs, 12))),
                               np.round(np.exp([o.ci_low, o.estimate, o.ci_high]), 12))
    assert xs[0] == pytest.approx(math.exp(o.ci_low))
    assert xs[2] == pytest.approx(math.exp(o.ci_high))
    assert xs[1] == pytest.approx(math.exp(o.estimate))
    assert not diamonds(fig, "common")
    assert "Random (REML)" in texts(fig)


def test_common_diamond_on_request_and_hollow(bcg):
    fig = forest_plot(bcg, show_common=True)
    (c,) = diamonds(fig, "common")
    (r,) = diamonds(fig, "overall")
    xs = c.get_xy()[:, 0]
    assert xs[1] == pytest.approx(math.exp(bcg.common.estimate))
    assert to_hex(c.get_facecolor()) == "#ffffff"
    assert to_hex(r.get_facecolor()) == DEFAULT_COLORS["diamond"]
    assert "Common effect (IV)" in texts(fig)
    # only the common diamond when random effects are switched off
    fig = forest_plot(bcg, show_random=False)
    assert diamonds(fig, "common") and not diamonds(fig, "overall")


def test_common_model_result_shows_one_diamond(hr):
    m = ipd.pool(baselines.HR_TRIALS, method="common", measure="HR")
    fig = forest_plot(m)
    assert len(diamonds(fig, "common")) == 1 and not diamonds(fig, "overall")
    assert not by_gid(fig, "forest-pi")
    assert "Prediction interval" not in texts(fig)


def test_prediction_interval_row(bcg):
    fig = forest_plot(bcg)
    (pi,) = by_gid(fig, "forest-pi")
    seg = np.array(pi.get_segments()[0])
    np.testing.assert_allclose(seg[:, 0], np.exp([bcg.overall.pi_low, bcg.overall.pi_high]))
    (label,) = texts(fig)["Prediction interval"]
    (d,) = diamonds(fig, "overall")
    assert label.get_position()[1] > d.get_xy()[:, 1].mean()  # below the diamond
    assert not by_gid(forest_plot(bcg, show_pi=False), "forest-pi")


def test_heterogeneity_line(bcg):
    fig = forest_plot(bcg)
    o = bcg.overall
    line = f"Heterogeneity: I² = {o.I2:.1f}%, τ² = {o.tau2:.3f}, p < 0.001"
    assert line in texts(fig)
    assert line not in texts(forest_plot(bcg, show_heterogeneity=False))


def test_hksj_method_in_the_label(hr):
    assert "Random (REML, HKSJ)" in texts(forest_plot(hr))


def test_no_overall(bcg):
    fig = forest_plot(bcg, overall=False)
    assert not diamonds(fig, "overall") and not by_gid(fig, "forest-pi")
    assert len(boxes(fig).get_offsets()) == bcg.k


# ------------------------------------------------------------------ subgroups

def test_subgroup_blocks(bcg_by):
    fig = forest_plot(bcg_by)
    found = texts(fig)
    groups = list(bcg_by.subgroups.pooled)
    heads = [found[str(g)][0] for g in groups]
    assert all(h.get_fontweight() in ("bold", 700) for h in heads)
    head_y = [h.get_position()[1] for h in heads]
    assert head_y == sorted(head_y)
    sub = diamonds(fig, "subgroup")
    assert len(sub) == len(groups)
    for d, g in zip(sub, groups, strict=True):
        assert d.get_xy()[1, 0] == pytest.approx(math.exp(bcg_by.subgroups.pooled[g].estimate))
    # every study sits under its own heading and above the next one
    offsets = boxes(fig).get_offsets()
    frame = bcg_by.studies
    y_of = dict(zip(frame.study, [None] * len(frame), strict=True))
    for label in frame.study:
        y_of[label] = found[label][0].get_position()[1]
    bounds = [*head_y, np.inf]
    for row in frame.itertuples():
        i = groups.index(row.alloc)
        assert bounds[i] < y_of[row.study] < bounds[i + 1]
    assert len(offsets) == bcg_by.k
    s = bcg_by.subgroups
    assert (f"Test for subgroup differences: Q = {s.Q_between:.2f}, df = {s.Q_between_df}, "
            f"p = {s.Q_between_pvalue:.2f}") in found
    assert sum(k.startswith("Heterogeneity:") for k in found) == len(groups) + 1


def test_subgroup_options(bcg_by):
    fig = forest_plot(bcg_by, subtotals=False, subgroup_tests=False)
    assert not diamonds(fig, "subgroup")
    assert not any(k.startswith("Test for subgroup") for k in texts(fig))
    fig = forest_plot(bcg_by, show_common=True)
    assert len(diamonds(fig, "subgroup-common")) == len(bcg_by.subgroups.pooled)


# ------------------------------------------------------------------ excluded studies

def test_excluded_studies_are_listed_in_grey(md):
    assert len(md.excluded) == 2
    fig = forest_plot(md)
    found = texts(fig)
    for row in md.excluded.itertuples():
        (label,) = found[row.study]
        assert to_hex(label.get_color()) == DEFAULT_COLORS["excluded"]
        assert f"not estimable: {row.reason}" in found
    assert len(boxes(fig).get_offsets()) == md.k
    hidden = texts(forest_plot(md, show_excluded=False))
    assert not any(r in hidden for r in md.excluded.study)


def test_long_reasons_are_shortened_to_fit_the_figure():
    frame = baselines.MD_TRIALS.copy()
    frame.loc[3, "reason"] = ("quasi-complete separation: 'trt' perfectly predicts the outcome "
                              "(2 of 12 with trt=0 had the event, 0 of 10 with trt=1)")
    frame.loc[7, "reason"] = "word " * 80
    m = ipd.pool(frame, method="DL", measure="MD")
    fig = forest_plot(m)
    fig.canvas.draw()
    notes = [t for k, ts in texts(fig).items() if k.startswith("not estimable") for t in ts]
    assert len(notes) == 2
    assert any(t.get_text().endswith("predicts the outcome") for t in notes)
    assert any(t.get_text().endswith("…") for t in notes)
    width = fig.get_figwidth() * fig.dpi
    assert all(display_bbox(fig, t).x1 <= width for t in notes)


def test_excluded_studies_sit_in_their_subgroup():
    m = ipd.pool(baselines.MD_TRIALS, method="DL", measure="MD", by="intervention")
    found = texts(forest_plot(m))
    assert "Not pooled" not in found
    group = m.excluded.set_index("study").loc["Dunmore 2002", "intervention"]
    heads = sorted((found[g][0].get_position()[1], g) for g in m.subgroups.pooled)
    y = found["Dunmore 2002"][0].get_position()[1]
    # the nearest heading above the excluded study (y grows downwards) is its own group
    above = [g for pos, g in heads if pos < y]
    assert above and above[-1] == group


# ------------------------------------------------------------------ columns and options

def test_left_and_right_columns(hr):
    fig = forest_plot(hr, left_columns=["n"], right_columns=["events"],
                      left_headers={"study": "Trial", "n": "N", "events": "Events"},
                      effect="Hazard ratio (95% CI)")
    found = texts(fig)
    assert {"Trial", "N", "Events", "Hazard ratio (95% CI)"} <= set(found)
    for n, e in zip(baselines.HR_TRIALS.n, baselines.HR_TRIALS.events, strict=True):
        assert str(n) in found and str(e) in found
    fig.canvas.draw()
    ax = panel(fig).get_window_extent()
    assert display_bbox(fig, found["N"][0]).x1 < ax.x0
    assert display_bbox(fig, found["Events"][0]).x0 > ax.x1
    with pytest.raises(InputError, match="not in the pooled data"):
        forest_plot(hr, left_columns=["age"])
    with pytest.raises(ValueError, match="one per left column"):
        forest_plot(hr, left_columns=["n"], left_headers=["Trial"])


def test_hiding_columns(bcg):
    found = texts(forest_plot(bcg, show_weights=False, show_estimates=False))
    assert "Weight (%)" not in found and "RR (95% CI)" not in found


def test_figure_height_follows_the_rows(bcg, bcg_by):
    h1 = forest_plot(bcg).get_figheight()
    h2 = forest_plot(bcg_by).get_figheight()
    h3 = forest_plot(bcg, spacing=1.5).get_figheight()
    assert h2 > h1 and h3 > h1


def test_text_fraction_and_figsize(bcg):
    fig = forest_plot(bcg, figsize=(9, 6), text_fraction=50)
    assert tuple(fig.get_size_inches()) == pytest.approx((9, 6))
    wide = panel(forest_plot(bcg, text_fraction=0.3)).get_position().width
    narrow = panel(forest_plot(bcg, text_fraction=0.7)).get_position().width
    assert wide > narrow
    with pytest.raises(ValueError, match="text_fraction"):
        forest_plot(bcg, text_fraction=0.99)


def test_fonts_and_colors_are_pinned_and_overridable(bcg):
    fig = forest_plot(bcg, colors={"box": "#aa0000"}, font_size=11)
    assert to_hex(boxes(fig).get_facecolor()[0]) == "#aa0000"
    label = texts(fig)["Aronson, 1948"][0]
    assert label.get_fontfamily()[0] == "DejaVu Sans" and label.get_fontsize() == 11
    tick = panel(fig).get_xticklabels()[0]
    assert tick.get_fontfamily()[0] == "DejaVu Sans"
    with pytest.raises(ValueError, match="unknown key"):
        forest_plot(bcg, colors={"squares": "red"})


def test_draws_into_a_given_axes(hr):
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    out = forest_plot(hr, ax=b)
    assert out is fig
    p = panel(fig)
    inner, outer = p.get_position(), b.get_position()
    assert outer.x0 <= inner.x0 and inner.x1 <= outer.x1 + 1e-9
    assert tuple(fig.get_size_inches()) == pytest.approx((12, 4))
    with pytest.raises(ValueError, match="figsize or ax"):
        forest_plot(hr, ax=a, figsize=(4, 4))


def test_method_on_the_result_and_the_ipdmeta_wrapper(hr):
    fig = hr.forest(xticks=[0.5, 1, 2])
    assert isinstance(fig, Figure)

    class Wrapper:
        meta = hr

    assert isinstance(forest_plot(Wrapper()), Figure)


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                                (".svg", b"<?xml")])
def test_saving_by_suffix(bcg_by, tmp_path, suffix, magic):
    path = tmp_path / f"forest{suffix}"
    forest_plot(bcg_by, path=path, dpi=50)
    assert path.read_bytes()[: len(magic)] == magic


def test_one_study_and_zero_heterogeneity():
    m = ipd.pool(pd.DataFrame({"study": ["Only"], "yi": [0.2], "sei": [0.1]}), measure="OR")
    fig = forest_plot(m)
    assert len(boxes(fig).get_offsets()) == 1
    assert not any(k.startswith("Heterogeneity") for k in texts(fig))
    same = ipd.pool(pd.DataFrame({"yi": [0.1, 0.1, 0.1], "sei": [0.1, 0.2, 0.3]}))
    assert "τ² = 0" in "".join(texts(forest_plot(same)))


# ------------------------------------------------------------------ image regression

# The baselines were rendered by tests/baseline/make_baselines.py.  A tolerance of 5
# (RMS over 0-255 pixel values) passes anti-aliasing noise but fails a real change:
# a 20% smaller box scale gives about 5.6, another box colour about 7.7, one
# more decimal in the estimates about 27.  Text rasterisation depends on the FreeType
# version, so the comparison is skipped when it differs from the baselines'.
IMAGE_TOL = 5.0


@pytest.mark.parametrize("name", sorted(baselines.CASES))
def test_image_matches_baseline(name, tmp_path):
    recorded = json.loads(baselines.VERSIONS.read_text())
    if recorded["freetype"] != baselines.renderer_versions()["freetype"]:
        pytest.skip(f"baselines rendered with FreeType {recorded['freetype']}, this "
                    f"matplotlib uses {baselines.renderer_versions()['freetype']}")
    expected = BASELINE_DIR / f"{name}.png"
    actual = baselines.render(name, tmp_path / f"{name}.png")
    result = compare_images(str(expected), str(actual), tol=IMAGE_TOL)
    assert result is None, result
