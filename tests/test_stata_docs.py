"""docs/stata.md lists every option the translator knows (translated or refused), and
every refused option is refused with its reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipdmeta.stata import StataSyntaxError, translate
from ipdmeta.stata.bias import (
    CONFUNNEL_OPTIONS,
    METABIAS_OPTIONS,
    METAFUNNEL_OPTIONS,
    METATRIM_OPTIONS,
)
from ipdmeta.stata.forest_options import FOREST_OPTIONS
from ipdmeta.stata.metaprop import METAPROP_OPTIONS
from ipdmeta.stata.metareg import METAREG_OPTIONS
from ipdmeta.stata.options import (
    IPDMETAN_ONLY,
    IPDOVER_OPTIONS,
    MAIN_OPTIONS,
    MODEL_OPTIONS,
    RE_MODELS,
    REFUSED_MODELS,
    STAGE1_COMMANDS,
    SUMMARY_OPTIONS,
)

DOC = (Path(__file__).resolve().parents[1] / "docs" / "stata.md").read_text(encoding="utf-8")
TABLES = {"ipdmetan": IPDMETAN_ONLY, "model_spec": MODEL_OPTIONS, "metan": MAIN_OPTIONS,
          "counts/means": SUMMARY_OPTIONS, "forestplot": FOREST_OPTIONS,
          "metareg": METAREG_OPTIONS, "ipdover": IPDOVER_OPTIONS,
          "metabias": METABIAS_OPTIONS, "metatrim": METATRIM_OPTIONS,
          "metafunnel": METAFUNNEL_OPTIONS, "confunnel": CONFUNNEL_OPTIONS,
          "metaprop": METAPROP_OPTIONS}
OPTIONS = sorted({(table, spec.name) for table, specs in TABLES.items() for spec in specs})


#: the words written as code in the doc (`re(pl, bartlett)` -> re, pl, bartlett)
_TEXT = re.sub(r"```.*?```", "", DOC, flags=re.S).replace("`` `\"text\"' ``", "")
CODE_WORDS = {w for span in re.findall(r"`([^`]+)`", _TEXT)
              for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


def _in_doc(name: str) -> bool:
    return name in CODE_WORDS


@pytest.mark.parametrize(("table", "name"), OPTIONS)
def test_every_option_is_in_the_doc(table: str, name: str) -> None:
    assert _in_doc(name), f"{table} option {name!r} is not in docs/stata.md"


@pytest.mark.parametrize("name", sorted({*RE_MODELS, *REFUSED_MODELS} - {"ho"}))
def test_every_model_name_is_in_the_doc(name: str) -> None:
    assert _in_doc(name), f"model {name!r} is not in docs/stata.md"


@pytest.mark.parametrize("name", sorted(s.name for s in STAGE1_COMMANDS))
def test_every_estimation_command_is_in_the_doc(name: str) -> None:
    assert _in_doc(name)


_EXAMPLE_ARGS = {"none": "", "optional": "", "required": "(x)"}
_WHERE = {"forestplot": "metan es se, forest({})", "metareg": "metareg es x, wsse(se) {}",
          "ipdover": "ipdover, over(x) {} : regress y t", "metabias": "metabias es se, egger {}",
          "metatrim": "metatrim es se, {}", "metafunnel": "metafunnel es se, {}",
          "confunnel": "confunnel es se, {}", "metaprop": "metaprop x n, {}"}


@pytest.mark.parametrize(("table", "spec"), [(t, s) for t, specs in TABLES.items()
                                              for s in specs if s.refused])
def test_refused_options_give_their_reason(table, spec) -> None:
    option = spec.name + _EXAMPLE_ARGS[spec.args]
    line = _WHERE.get(table, "metan es se, {}").format(option)
    if table == "ipdmetan":
        line = f"ipdmetan, study(s) {option} : regress y t"
    with pytest.raises(StataSyntaxError, match=re.escape(spec.refused[:30])):
        translate(line)
