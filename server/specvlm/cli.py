"""`specvlm serve | bench | bench-serve | make-tiny`."""

from __future__ import annotations

import argparse
import logging
import sys

from . import config


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .api.app import create_app

    try:
        settings = config.from_args(args)
    except ValueError as exc:
        print(f"specvlm serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=30)
    return 0


def _make_tiny(args: argparse.Namespace) -> int:
    from .models.tiny import make_tiny

    target, draft = make_tiny(args.out_dir, args.family, seed=args.seed)
    print(f"target: {target}\ndraft:  {draft}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="specvlm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the OpenAI-compatible server")
    config.add_arguments(serve)
    serve.set_defaults(run=_serve)

    from .bench import offline, serve_load

    bench = commands.add_parser("bench", help="offline benchmark: ar vs naive vs SpecVLM, or per-step costs")
    offline.add_arguments(bench)
    bench.set_defaults(run=offline.run)

    load = commands.add_parser("bench-serve", help="load test a running server over HTTP")
    serve_load.add_arguments(load)
    load.set_defaults(run=serve_load.run)

    tiny = commands.add_parser("make-tiny", help="write a tiny random target/draft pair (offline, seconds)")
    tiny.add_argument("out_dir")
    tiny.add_argument("--family", choices=("qwen2_5_vl", "llava_onevision"), default="qwen2_5_vl")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(run=_make_tiny)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
