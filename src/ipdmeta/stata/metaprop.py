"""``metaprop`` (Nyaga, Arbyn & Aerts 2014: proportions of single groups) -> ``ipd.pool``
with ``events=``, ``n=`` and a proportion measure, shown as proportions.

``metaprop x n`` pools the proportions ``x/n`` by inverse variance: by default
random effects (DerSimonian-Laird) on the proportion scale (``measure="PR"``), with
``ftt`` on the Freeman-Tukey double-arcsine scale (``measure="PFT"``, back-transformed
with the harmonic mean of the sizes, Miller 1978); ``fixed`` is the common effect.
The results are shown as proportions (``res.back_transformed(study_ci=...)``), the
study intervals exact (Clopper-Pearson, metaprop's default ``cimethod(exact)``) or
Wilson score intervals (``cimethod(wilson)``).  ``logit`` (metaprop's logistic-normal
model, a binomial GLMM) and ``power()`` are refused with what to do.

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> step = translate_metaprop(parse_command("metaprop x n, ftt cimethod(wilson) "
    ...                                         "label(namevar=author)"))
    >>> step.call, step.measure, step.back_transform
    ({'study': 'author', 'events': 'x', 'n': 'n', 'method': 'DL'}, 'PFT', {'study_ci': 'wilson'})
"""

from __future__ import annotations

from typing import Any

from ipdmeta.stata.forest_options import FOREST_OPTIONS, refuse
from ipdmeta.stata.metan import columns, label_columns, qualifiers, summary_option
from ipdmeta.stata.options import METAN_OPTIONS, OptionSpec, opt
from ipdmeta.stata.parse import Command, Option, StataSyntaxError, match, match_first, words
from ipdmeta.stata.shared import finish, shared_option
from ipdmeta.stata.step import Step

_AS_METAN = "as metan's option of the same name"

#: metaprop's options (its help file); the ones marked "as metan" are translated as metan's
METAPROP_OPTIONS: tuple[OptionSpec, ...] = (
    opt("ftt", 3, help='measure="PFT" (Freeman-Tukey double arcsine; back-transformed with '
                       "the harmonic mean of the sizes)"),
    opt("logit", 5, refused="metaprop's logit fits the logistic-normal random-effects model "
                            "(a binomial GLMM), which ipdmeta does not fit from counts; for "
                            'the inverse-variance pooling of logits write ipd.pool(data, '
                            'events=..., n=..., measure="PLO") in Python, or use ftt'),
    opt("cimethod", 3, "required", help="back_transformed(study_ci=): exact (default), "
                                        "wilson/score"),
    opt("random", 6, help='method="DL" (the default)'),
    opt("fixed", 5, help='method="common"'),
    opt("cc", 2, "required", help="correction=# (added to x and n - x of studies with 0 or "
                                  "all events; PR only)"),
    opt("wgt", 3, "required", help=_AS_METAN),
    opt("second", 6, "required", help=_AS_METAN),
    opt("first", 5, "required", help=_AS_METAN),
    opt("power", 5, "required", refused="proportions are shown from 0 to 1; for percentages "
                                        "multiply the estimate and interval columns of "
                                        "res.to_frame() by 100"),
    opt("dp", 2, "required", help=_AS_METAN),
    opt("by", 2, "required", help=_AS_METAN),
    opt("nosubgroup", 5, help=_AS_METAN),
    opt("sgweight", 3, refused="weights are those of the overall analysis; subgroup weights "
                              "are in res.subgroups (pool each subgroup for its own weights)"),
    opt("ilevel", 2, "required", help=_AS_METAN),
    opt("olevel", 2, "required", help=_AS_METAN),
    opt("sortby", 4, "required", help=_AS_METAN),
    opt("label", 3, "required", help="study= (namevar), 'name (year)' labels with yearvar"),
    opt("nokeep", 6, help="accepted: ipdmeta never adds variables to the data"),
    opt("notable", 5, help=_AS_METAN),
    opt("nograph", 5, help=_AS_METAN),
    opt("nosecsub", 8, help=_AS_METAN),
    opt("legend", 6, "required", help=_AS_METAN),
    opt("xlabel", 3, "required", help=_AS_METAN),
    opt("xtick", 2, "required", help=_AS_METAN),
    opt("boxsca", 6, "required", help=_AS_METAN),
    opt("nobox", 5, help=_AS_METAN),
    opt("nooverall", 9, help=_AS_METAN),
    opt("nowt", 4, help=_AS_METAN),
    opt("nostats", 7, help=_AS_METAN),
    opt("force", 5, help="accepted: xlabel() ticks are drawn as given"),
    opt("lcols", 5, "required", help=_AS_METAN),
    opt("rcols", 5, "required", help=_AS_METAN),
    opt("astext", 6, "required", help=_AS_METAN),
    opt("double", 6, help=_AS_METAN),
    opt("nohet", 5, help=_AS_METAN),
    opt("summaryonly", 11, help=_AS_METAN),
    opt("rfdist", 6, help=_AS_METAN),
    opt("rflevel", 3, "required", help=_AS_METAN),
    opt("boxopt", 6, "required", help=_AS_METAN),
    opt("diamopt", 7, "required", help=_AS_METAN),
    opt("pointopt", 8, "required", help=_AS_METAN),
    opt("ciopt", 5, "required", help=_AS_METAN),
    opt("olineopt", 8, "required", help=_AS_METAN),
    opt("classic", 7, help=_AS_METAN),
    opt("nowarning", 6, help=_AS_METAN),
)
STUDY_CI = {"exact": "exact", "wilson": "wilson", "score": "wilson"}


def _cimethod(args: str) -> str:
    value = " ".join(words(args)).lower()
    if value not in STUDY_CI:
        raise StataSyntaxError(f"cimethod({args}) of metaprop: the study intervals are "
                               "exact (Clopper-Pearson) or wilson (score); ipdmeta's "
                               "back-transformed Wald intervals are "
                               "res.back_transformed(study_ci='transformed') in Python")
    return STUDY_CI[value]


def _as_metan(o: Option, spec: OptionSpec, step: Step, forest: dict[str, Any]) -> None:
    """An option metaprop shares with metan, translated as metan's."""
    target = match_first(spec.name, [METAN_OPTIONS, FOREST_OPTIONS], "metaprop")
    same = Option(target.name, o.args)
    if target.name == "cc":
        summary_option(same, target, step, forest)
    elif not shared_option(same, target, step, forest, "metaprop"):
        raise StataSyntaxError(f"option {o} of metaprop is not translated (see docs/stata.md)")


def translate_metaprop(cmd: Command) -> Step:
    """``metaprop x n [if] [in] [, options]`` (events and sample sizes) -> ``ipd.pool``."""
    if len(cmd.words) != 2:
        raise StataSyntaxError("metaprop takes two variables, the events and the sample "
                               "sizes: metaprop x n [, options]")
    step = Step(command=cmd.text, kind="pool", measure="PR")
    step.call.update(events=cmd.words[0], n=cmd.words[1], method="DL")
    step.back_transform = {"study_ci": "exact"}
    step.eform = False
    qualifiers(cmd, step)
    forest: dict[str, Any] = {"effect": "Proportion", "xlabel": "Proportion",
                              "null_line": False}
    for o in cmd.options:
        spec = match(o.name, METAPROP_OPTIONS, "metaprop")
        refuse(o, spec, "metaprop")
        if spec.name == "ftt":
            step.measure = "PFT"
        elif spec.name == "cimethod":
            step.back_transform["study_ci"] = _cimethod(o.args or "")
        elif spec.name == "label":
            label = label_columns(o.args or "")
            if isinstance(label, str):
                step.call["study"] = label
            else:
                step.call["study"], step.label = "_label", label
        elif spec.name not in ("nokeep", "force"):
            _as_metan(o, spec, step, forest)
    if step.study_level is not None:       # ilevel(): the exact/Wilson study intervals too
        step.back_transform["level"] = step.study_level
    columns(forest, step)
    return finish(step, forest)
