"""The dashboard's five charts, from :class:`shop.admin.stats.PackDashboard` numbers."""

from __future__ import annotations

from shop.admin.charts import Chart, Formatter, bar_chart, label_stride, line_chart
from shop.admin.stats import PackDashboard
from shop.formatting import counted, money


def dashboard_charts(board: PackDashboard) -> dict[str, Chart]:
    currency = board.pack.currency
    hours = [h.start.strftime("%d %b %H:00") for h in board.hours]
    stride = label_stride(len(hours), 6)
    per_hour = bar_chart(
        "Sales per hour", f"Orders paid in each hour of the pack's window, {counted(len(hours), 'hour')}.",
        hours, [[h.orders for h in board.hours]], [[str(h.orders) for h in board.hours]], label_every=stride)
    money_per_hour = bar_chart(
        f"Money per hour ({currency})",
        "What buyers paid in each hour of the pack's window, and what is left of it after refunds and disputes.",
        hours, [[h.cents for h in board.hours], [h.net_cents for h in board.hours]],
        [[money(h.cents, currency) for h in board.hours], [money(h.net_cents, currency) for h in board.hours]],
        legend=["Paid", "Net"], axis=Formatter(currency), label_every=stride)
    average = line_chart(
        f"Average price over time ({currency})",
        "The average net amount per order in good standing, over every sale up to each hour.",
        hours, [h.running_average_cents for h in board.hours], Formatter(currency), label_every=stride,
        shown=[money(h.running_average_cents, currency) for h in board.hours])
    buckets = [f"{money(b.low_cents, currency)}–{money(b.high_cents, currency)}" for b in board.amounts]
    amounts = bar_chart(
        "What buyers paid", "Number of paid orders in each amount range.",
        buckets, [[b.orders for b in board.amounts]], [[str(b.orders) for b in board.amounts]],
        label_every=label_stride(len(buckets), 5))
    fmts = [f.format.upper() for f in board.formats]
    formats = bar_chart(
        "Formats: downloads and Dropbox deliveries",
        "Completed downloads and finished Dropbox deliveries, per format.",
        fmts, [[f.downloads for f in board.formats], [f.deliveries for f in board.formats]],
        [[str(f.downloads) for f in board.formats], [str(f.deliveries) for f in board.formats]],
        legend=["Downloads", "Dropbox deliveries"])
    return {"per_hour": per_hour, "money_per_hour": money_per_hour, "average": average,
            "amounts": amounts, "formats": formats}
