"""``flask payouts run``: the payout run, from the operator's shell.

The group lives with the console, like ``flask orders``: a run moves money and is written to
the audit log, which belongs to the console. The run itself is :func:`shop.payouts.runs.run`.
"""

from __future__ import annotations

import click

from shop.admin import audit
from shop.extensions import db
from shop.ledger.models import PayoutStatus
from shop.payouts.runs import DEFAULT_MINIMUM, RunError, run
from shop.text_safety import for_terminal


@click.group("payouts")
def payouts_cli() -> None:
    """Paying artists through Stripe Connect."""


@payouts_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Print what the run would do; write and send nothing.")
@click.option("--minimum", default=DEFAULT_MINIMUM, show_default=True,
              help="Pay only balances of at least this much, in each currency's own units.")
@click.option("--currency", help="Pay only balances in this currency (e.g. USD).")
def run_command(dry_run: bool, minimum: str, currency: str | None) -> None:
    """Transfer each Stripe artist's balance (at least --minimum) to their Stripe account.

    Payouts left pending by an interrupted run are finished first, with the same idempotency
    key, so a run can be repeated or killed at any point without paying anyone twice. Exits
    non-zero when any payout failed or could not be sent.
    """
    try:
        result = run(minimum, currency, dry_run, report=lambda line: click.echo(for_terminal(line)))
    except RunError as exc:
        db.session.rollback()
        raise click.UsageError(str(exc)) from exc
    if dry_run:
        click.echo(f"dry run: {len(result.would_finish)} pending payout(s) to finish, "
                   f"{len(result.would_pay)} new; nothing written or sent")
        return
    counts = {status.value: sum(1 for o in result.outcomes if o.status == status.value) for status in PayoutStatus}
    audit.record_command("payouts.run", f"run:{result.run_key}",
                         {**counts, "minimum": minimum, "currency": currency,
                          "payouts": [o.payout_id for o in result.outcomes]})
    db.session.commit()
    click.echo(f"run {result.run_key}: {counts['sent']} sent, {counts['failed']} failed, "
               f"{counts['pending']} left pending")
    if not result.ok:
        raise click.exceptions.Exit(1)
