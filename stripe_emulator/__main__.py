"""``python -m stripe_emulator --host 127.0.0.1 --port 12111 [--webhook URL --webhook-secret whsec_...]``"""

from __future__ import annotations

import argparse
import sys

from emulator_common import serve_until_interrupted

from . import DispatchSettings, Settings, create_app
from .emulator import DEFAULT_API_VERSION
from .versions import KNOWN_VERSIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stripe_emulator",
                                     description="A local Stripe: Checkout, refunds, disputes, "
                                                 "signed webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    parser.add_argument("--data-dir", help="persist state here (default: memory)")
    parser.add_argument("--api-key", action="append", default=[], metavar="SK",
                        help="accept only this secret key (repeatable; default: any sk_test_)")
    parser.add_argument("--webhook", action="append", default=[], metavar="URL",
                        help="register a webhook endpoint for every event (repeatable)")
    parser.add_argument("--webhook-secret", action="append", default=[], metavar="WHSEC",
                        help="the signing secret of the --webhook at the same position")
    parser.add_argument("--connect-webhook", action="append", default=[], metavar="URL",
                        help="register a connect=true endpoint: the events of connected "
                             "accounts (account.updated) go there (repeatable)")
    parser.add_argument("--connect-webhook-secret", action="append", default=[],
                        metavar="WHSEC", help="the signing secret of the --connect-webhook at "
                                              "the same position")
    parser.add_argument("--public-url", help="origin used in session URLs "
                                             "(default: the Host of the creating request)")
    parser.add_argument("--api-version", default=DEFAULT_API_VERSION,
                        help="the account's API version: answers without Stripe-Version and "
                             "events are in it (default: what SDK 16.1.0 pins)")
    parser.add_argument("--retry-base-delay", type=float, default=2.0,
                        help="seconds before the first webhook retry; doubles each time")
    parser.add_argument("--max-attempts", type=int, default=8,
                        help="webhook delivery attempts per event and endpoint")
    parser.add_argument("--delivery-timeout", type=float, default=10.0,
                        help="seconds to wait for a webhook endpoint's answer")
    parser.add_argument("--async-delay", type=float, default=3.0, metavar="SECONDS",
                        help="seconds before a SEPA Debit payment succeeds or fails "
                             "(emulator clock; default 3)")
    parser.add_argument("--funds-pending", type=float, default=2 * 86_400.0,
                        metavar="SECONDS",
                        help="seconds before a charge's funds are available for transfers "
                             "(emulator clock; default two days; 0: at once)")
    return parser


def _pairs(parser: argparse.ArgumentParser, urls: list[str], secrets: list[str],
           flag: str) -> list[tuple[str, str | None]]:
    if len(secrets) > len(urls):
        parser.error(f"each {flag}-secret needs a {flag} before it")
    for secret in secrets:
        if not secret.startswith("whsec_"):
            parser.error("a webhook secret starts with whsec_")
    padded: list[str | None] = [*secrets, *([None] * (len(urls) - len(secrets)))]
    return list(zip(urls, padded, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    webhooks = _pairs(parser, args.webhook, args.webhook_secret, "--webhook")
    connect_webhooks = _pairs(parser, args.connect_webhook, args.connect_webhook_secret,
                              "--connect-webhook")
    if args.api_version not in KNOWN_VERSIONS:
        parser.error(f"--api-version: {args.api_version} is not a Stripe API version")
    if args.async_delay < 0:
        parser.error("--async-delay cannot be negative")
    if args.funds_pending < 0:
        parser.error("--funds-pending cannot be negative")
    settings = Settings(api_version=args.api_version, public_url=args.public_url,
                        async_delay=args.async_delay, funds_pending=args.funds_pending,
                        dispatch=DispatchSettings(retry_base_delay=args.retry_base_delay,
                                                  max_attempts=args.max_attempts,
                                                  timeout=args.delivery_timeout))
    app = create_app(args.data_dir, args.api_key, webhooks, settings=settings,
                     connect_webhooks=connect_webhooks)
    emulator = app.extensions["stripe_emulator"]

    def announce(base_url: str) -> None:
        for endpoint_id in sorted(emulator.configured_endpoints):
            endpoint = emulator.webhook_endpoints[endpoint_id]
            kind = "connect webhook" if emulator.connect_endpoints.get(endpoint_id) else "webhook"
            print(f"{kind} {endpoint['url']} secret {endpoint['secret']}", flush=True)

    return serve_until_interrupted(app, args.host, args.port, "stripe_emulator",
                                   on_stop=emulator.close, announce=announce)


if __name__ == "__main__":
    sys.exit(main())
