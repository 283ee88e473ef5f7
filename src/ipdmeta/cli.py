"""The ``ipdmeta`` command.

Example:
    $ ipdmeta pool AD.csv --estimate yi --variance vi --method REML --ci hksj
    $ ipdmeta demo --out output
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ipdmeta.errors import IpdMetaError


def _add_pool_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="REML", help="common, DL, REML (default), ML, PM, ...")
    p.add_argument("--ci", default="z", help="z (default), t, hksj, hksj-trunc, pl")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--pi", default="hts", help="prediction interval: hts (default) or metafor")
    p.add_argument("--by", help="subgroup column")
    p.add_argument("--eform", action="store_true", help="show exponentiated results")


def _cmd_pool(args: argparse.Namespace) -> int:
    import ipdmeta as ipd
    from ipdmeta.io import read_data
    frame = read_data(args.data)
    result = ipd.pool(frame, estimate=args.estimate, se=args.se, variance=args.variance,
                      study=args.study, by=args.by, method=args.method, ci=args.ci,
                      level=args.level, pi=args.pi)
    print(result.summary(eform=args.eform))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ipdmeta.demo import run_demo
    run_demo(Path(args.out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ipdmeta`` command."""
    parser = argparse.ArgumentParser(prog="ipdmeta", description="Two-stage IPD meta-analysis.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pool", help="pool a table of study estimates (stage 2)")
    p.add_argument("data", help="csv, dta, parquet or xlsx file with one row per study")
    p.add_argument("--estimate", help="estimate column (default: estimate / yi / _ES)")
    p.add_argument("--se", help="standard error column (default: se / sei / _seES)")
    p.add_argument("--variance", help="variance column (instead of --se)")
    p.add_argument("--study", help="study label column")
    _add_pool_options(p)
    p.set_defaults(func=_cmd_pool)
    d = sub.add_parser("demo", help="run the example analyses into an output folder")
    d.add_argument("--out", default="output", help="output folder (default: output)")
    d.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit code 0 on success, 1 on an analysis error, 2 on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except IpdMetaError as err:
        print(f"ipdmeta: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
