"""The ledger: who is owed what from every payment, to the cent, append-only.

Every movement of an order's money is one :class:`~shop.ledger.models.LedgerPosting` (a sale,
a refund, a dispute's withdrawal or reinstatement, a payout) made of entries, one per party (each
artist, the charity, the store, Stripe's fee, tax). A posting's ``key`` is unique, so posting the
same movement twice (a replayed webhook, a retried job) adds nothing. Rows are never updated or
deleted; a correction is a new posting. The read side (balances, monthly statements) is
:mod:`shop.ledger.statements`.
"""
