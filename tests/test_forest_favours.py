"""Long "favours" texts (forest ``favours=``, Stata ``favours(left # right)``) stay inside
the figure: wrapped between words to the room either side of the null line, a figure of
natural size widened for a word that still does not fit, the fonts of a figure of given
size shrunk; the x-axis title goes under the wrapped lines."""

from __future__ import annotations

import matplotlib
import pytest
from matplotlib.figure import Figure

import ipdmeta as ipd
from ipdmeta.plots import forest_axes, forest_plot
from ipdmeta.stata import StataSession

matplotlib.use("Agg")

LONG = ("Favours the experimental treatment arm of the trials",
        "Favours the control arm (usual care, no vaccination at all)")
WORD = "Supercalifragilisticexpialidociousvaccinationeffect"


@pytest.fixture(scope="module")
def bcg() -> ipd.MetaResult:
    return ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi", study="trial",
                    method="DL", measure="RR")


def _extent(fig: Figure, start: str):
    """The display box of the one text that starts with ``start``, drawn at the 300 dpi
    a plot is saved with (and measured at: text at 100 dpi runs a few % wider)."""
    fig.set_dpi(300)
    fig.canvas.draw()
    found = [t for t in fig.findobj(matplotlib.text.Text)
             if " ".join(t.get_text().split()).startswith(start)]
    assert len(found) == 1, start
    return found[0], found[0].get_window_extent(fig.canvas.get_renderer())


def _inside(fig: Figure, box) -> bool:
    w, h = fig.bbox.width, fig.bbox.height
    return box.x0 >= 0 and box.x1 <= w and box.y0 >= 0 and box.y1 <= h


@pytest.mark.parametrize("options", [{"text_fraction": 0.7},
                                     {"show_weights": False, "show_estimates": False},
                                     {"figsize": (6.0, 5.0)},
                                     {"xticks": [0.1, 1, 10], "text_fraction": 0.6}])
def test_long_favours_texts_stay_in_the_figure(bcg, options) -> None:
    fig = forest_plot(bcg, favours=LONG, **options)
    if "figsize" in options:
        assert tuple(fig.get_size_inches()) == pytest.approx(options["figsize"])
    left_text, left = _extent(fig, "Favours the experimental")
    right_text, right = _extent(fig, "Favours the control")
    assert _inside(fig, left) and _inside(fig, right)
    null = forest_axes(fig).transData.transform((1.0, 0.0))[0]
    assert left.x1 < null < right.x0                 # either side of the null line
    for text, words in ((left_text, LONG[0]), (right_text, LONG[1])):
        assert text.get_text().split() == words.split()   # wrapped, no word lost
    _, xlabel = _extent(fig, "Risk ratio")
    assert xlabel.y1 <= min(left.y0, right.y0)       # the axis title under the texts


def test_texts_that_fit_are_not_wrapped(bcg) -> None:
    fig = forest_plot(bcg, favours=("Favours BCG", "Favours control"))
    assert _extent(fig, "Favours BCG")[0].get_text() == "Favours BCG"


def test_one_long_word_widens_a_natural_figure_and_shrinks_a_given_one(bcg) -> None:
    plain = forest_plot(bcg, favours=("BCG", "control"))
    wide = forest_plot(bcg, favours=(WORD, "control"))
    assert wide.get_figwidth() > plain.get_figwidth()
    assert _inside(wide, _extent(wide, WORD)[1])
    fixed = forest_plot(bcg, favours=(WORD + "bigger", "control"), figsize=(5.0, 5.0))
    text, box = _extent(fixed, WORD)
    assert _inside(fixed, box) and text.get_fontsize() < 9


def test_stata_favours_are_wrapped_too(tmp_path) -> None:
    s = StataSession(ipd.datasets.load_bcg().assign(sei=lambda d: d["vi"] ** 0.5),
                     graph_dir=None)
    step = s.run("metan yi sei, study(trial) random eform forestplot(favours(" + LONG[0]
                 + " # " + LONG[1] + ") astext(70))")
    fig = step.result.forest(**{k: v for k, v in step.forest.items() if k != "path"})
    for start in ("Favours the experimental", "Favours the control"):
        text, box = _extent(fig, start)
        assert "\n" in text.get_text() and _inside(fig, box)
