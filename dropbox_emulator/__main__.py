"""``python -m dropbox_emulator --host 127.0.0.1 --port 8765 --app KEY:SECRET[:NAME] ...``"""

from __future__ import annotations

import argparse
import sys

from emulator_common import serve_until_interrupted

from . import Settings, create_app


def parse_app(value: str) -> tuple[str, str, str]:
    key, _, rest = value.partition(":")
    secret, _, name = rest.partition(":")
    if not key or not secret:
        raise argparse.ArgumentTypeError("expected KEY:SECRET or KEY:SECRET:NAME")
    return key, secret, name or key


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dropbox_emulator",
                                     description="A local Dropbox API v2 + OAuth 2 emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--app", action="append", type=parse_app, default=[],
                        metavar="KEY:SECRET[:NAME]",
                        help="register an app (repeatable); NAME names /Apps/NAME")
    parser.add_argument("--data-dir", help="persist state and contents here (default: memory)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay added to every API call")
    parser.add_argument("--token-ttl", type=float, default=14_400,
                        help="access-token lifetime in seconds (default 4 h)")
    parser.add_argument("--max-concurrent-writes", type=int, default=Settings.max_concurrent_writes,
                        help="in-flight writes per namespace before 429 (0: unlimited)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings(token_ttl=args.token_ttl, max_concurrent_writes=args.max_concurrent_writes)
    app = create_app(args.data_dir, args.app, latency_ms=args.latency_ms, settings=settings)
    return serve_until_interrupted(app, args.host, args.port, "dropbox_emulator",
                                   on_stop=app.extensions["dropbox_emulator"].close)


if __name__ == "__main__":
    sys.exit(main())
