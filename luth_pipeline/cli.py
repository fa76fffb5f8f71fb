"""The `luth` command."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    from luth_pipeline.demo import run_demo

    return run_demo(force=args.force, selection=args.select)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luth", description="Luth French post-training pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the whole asset graph (stale parts only) and summarize")
    demo.add_argument("--force", action="store_true", help="re-run every asset, even up-to-date ones")
    demo.add_argument("--select", nargs="*", help="only these asset keys")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
