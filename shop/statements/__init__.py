"""An artist's own statements behind a private link (no account), the links themselves, the
monthly statement mail and the ``flask artists`` commands.

It reads the ledger's figures (:mod:`shop.ledger.statements`, the one definition of them) and
never writes money; payouts and the console stand above it.
"""

from flask import Blueprint

bp = Blueprint("statements", __name__)

from shop.statements import views  # noqa: E402,F401
