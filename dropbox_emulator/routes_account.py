"""``users/get_current_account``, ``users/get_space_usage`` and ``auth/token/revoke``."""

from __future__ import annotations

from typing import Any

from .calls import Call, route
from .tokens import revoke


@route("users/get_current_account", scope="account_info.read")
def get_current_account(call: Call, arg: Any) -> dict[str, Any]:
    account = call.account
    given, surname = account.given_name, account.surname
    display = f"{given} {surname}".strip()
    initials = "".join(word[0] for word in display.split()).upper()
    namespace_id = str(int(account.uid) * 7)
    return {
        "account_id": account.account_id,
        "name": {"given_name": given, "surname": surname, "familiar_name": given,
                 "display_name": display, "abbreviated_name": initials},
        "email": account.email,
        "email_verified": True,
        "disabled": False,
        "country": "US",
        "locale": "en",
        "referral_link": f"https://db.tt/emulator{account.uid}",
        "is_paired": False,
        "account_type": {".tag": "basic"},
        "root_info": {".tag": "user", "root_namespace_id": namespace_id,
                      "home_namespace_id": namespace_id},
    }


@route("users/get_space_usage", scope="account_info.read")
def get_space_usage(call: Call, arg: Any) -> dict[str, Any]:
    """``SpaceUsage``: bytes of every file in the account (all apps), and the allocation."""
    with call.emulator.store.lock:
        used, allocated = call.namespace.used, call.account.allocated
    return {"used": used, "allocation": {".tag": "individual", "allocated": allocated}}


@route("auth/token/revoke", scope=None)
def token_revoke(call: Call, arg: Any) -> None:
    revoke(call.emulator.store, call.token)
    return None
