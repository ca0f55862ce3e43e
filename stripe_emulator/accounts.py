"""Connect: Express accounts, Account Links and the hosted onboarding they lead to.

An Express account starts with its requested capabilities ``inactive`` and its onboarding
requirements due. An Account Link (``type=account_onboarding``) is a single-use URL to the
emulator's onboarding page, valid for :data:`LINK_LIFETIME` seconds (emulator clock).
Completing the page submits the details: ``details_submitted``, ``charges_enabled`` and
``payouts_enabled`` become true, every requested capability ``active``, nothing is due, and
an ``account.updated`` event goes to the ``connect=true`` webhook endpoints.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from emulator_common import random_token

from . import connect_objects
from .core import EmulatorCore, merge_metadata
from .money import check_currency
from .wire import StripeError, check_known, invalid, metadata, missing, no_such, text

#: Seconds an Account Link stays valid (Stripe: "a few minutes").
LINK_LIFETIME = 300
#: The platform's own account id (``GET /v1/account`` without ``Stripe-Account``).
PLATFORM_ACCOUNT = "acct_1EmulatorPlatform000000"
BUSINESS_TYPES = ("company", "government_entity", "individual", "non_profit")
CAPABILITIES = ("transfers", "card_payments")
_URL = re.compile(r"^https?://[^/\s]+")


@dataclass
class LinkState:
    """What the onboarding page shows for a link token (``problem``: why it cannot be used)."""

    account: dict[str, Any] | None
    link: dict[str, Any] | None
    problem: str | None


class Accounts(EmulatorCore):
    """``/v1/accounts``, ``/v1/account_links`` and the onboarding page's two answers."""

    ACCOUNT_PARAMS = ("type", "controller", "country", "email", "capabilities", "metadata",
                      "business_type", "default_currency", "business_profile",
                      "tos_acceptance")

    def create_account(self, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/accounts``: an Express account (``type=express`` or the equivalent
        ``controller[stripe_dashboard][type]=express``)."""
        check_known(params, self.ACCOUNT_PARAMS)
        kind = text(params, "type")
        controller = params.get("controller")
        dashboard = None
        if isinstance(controller, dict) and isinstance(controller.get("stripe_dashboard"), dict):
            dashboard = controller["stripe_dashboard"].get("type")
        if kind is None and dashboard is None:
            raise StripeError("You must specify either `type` or `controller` when creating "
                              "an account.", param="type", validation=True)
        if kind not in (None, "express", "standard", "custom"):
            raise invalid("type", "Invalid type: must be one of custom, express, or standard")
        if (kind or dashboard) != "express":
            raise StripeError("The Stripe emulator only emulates Express accounts "
                              "(type=express).", param="type", validation=True)
        country = (text(params, "country") or "US").upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise invalid("country", f"Invalid country: {country}", "country_unsupported")
        currency_text = text(params, "default_currency")
        currency = (check_currency(currency_text, "default_currency") if currency_text
                    else connect_objects.COUNTRY_CURRENCIES.get(country, "usd"))
        business_type = text(params, "business_type")
        if business_type is not None and business_type not in BUSINESS_TYPES:
            raise invalid("business_type",
                          f"Invalid business_type: must be one of {', '.join(BUSINESS_TYPES)}")
        capabilities = self._requested_capabilities(params.get("capabilities"))
        email = text(params, "email")
        meta = metadata(params) or {}
        with self.change():
            account = connect_objects.account(
                created=self.now(), country=country, email=email, default_currency=currency,
                business_type=business_type, capabilities=capabilities, metadata=meta)
            self.accounts[account["id"]] = account
            return self.view(account)

    @staticmethod
    def _requested_capabilities(raw: Any) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise invalid("capabilities", "Invalid hash")
        check_known(raw, CAPABILITIES, "capabilities")
        capabilities = {}
        for name, value in raw.items():
            label = f"capabilities[{name}]"
            if not isinstance(value, dict):
                raise invalid(label, "Invalid hash")
            check_known(value, ("requested",), label)
            requested = value.get("requested")
            if requested not in ("true", "false"):
                raise invalid(f"{label}[requested]", f"Invalid boolean: {requested}",
                              "parameter_invalid_boolean")
            if requested == "true":
                capabilities[name] = "inactive"
        return capabilities

    def update_account(self, account_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/accounts/{id}``: ``email`` and ``metadata`` (``account.updated``)."""
        check_known(params, ("email", "metadata"))
        with self.change():
            account = self._require("accounts", account_id, "account")
            before = copy.deepcopy(account)
            if "email" in params:
                account["email"] = text(params, "email")
            account["metadata"] = merge_metadata(account["metadata"], params)
            if before != account:
                self._emit("account.updated", account, self._changes(before, account),
                           account=account_id)
            return self.view(account)

    def connected_account(self, account_id: str) -> dict[str, Any]:
        """The account a ``Stripe-Account`` header names.

        :raises StripeError: 403 ``account_invalid`` for an account the platform does not
            have.
        """
        with self.lock:
            if account_id == PLATFORM_ACCOUNT or account_id in self.accounts:
                return self.own_account(account_id)
        raise StripeError(f"The provided key does not have access to account '{account_id}' "
                          "(or that account does not exist). Application access may have "
                          "been revoked.", status=403, code="account_invalid")

    def own_account(self, account_id: str | None) -> dict[str, Any]:
        """``GET /v1/account``: the connected account acted as, else the platform's."""
        if account_id is None or account_id == PLATFORM_ACCOUNT:
            return connect_objects.platform_account(account_id=PLATFORM_ACCOUNT, created=0)
        return self.get("accounts", account_id)

    # -- Account Links and the onboarding page -------------------------------------------------

    def create_account_link(self, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        """``POST /v1/account_links``: a single-use onboarding URL on the emulator."""
        check_known(params, ("account", "type", "refresh_url", "return_url",
                             "collection_options", "collect"))
        account_id = text(params, "account", required=True)
        link_type = text(params, "type", required=True)
        if link_type not in ("account_onboarding", "account_update"):
            raise invalid("type", "Invalid type: must be one of account_onboarding or "
                          "account_update")
        urls = {}
        for name in ("refresh_url", "return_url"):
            value = text(params, name)
            if value is None:
                raise missing(name)
            if not _URL.match(value):
                raise invalid(name, "Not a valid URL", "url_invalid")
            urls[name] = value
        with self.change():
            account_id = str(account_id)
            if account_id not in self.accounts:
                raise no_such("account", account_id, "account")
            if link_type == "account_update":
                raise StripeError("You cannot create `account_update` type Account Links for "
                                  "accounts with access to a Stripe-hosted dashboard.",
                                  param="type")
            created = self.now()
            token = random_token(12)
            self.account_links[token] = {"account": account_id, "created": created,
                                         "expires_at": created + LINK_LIFETIME,
                                         "opened": False, "used": False, **urls}
            base = (self.settings.public_url or base_url).rstrip("/")
            return connect_objects.account_link(created=created,
                                                expires_at=created + LINK_LIFETIME,
                                                url=f"{base}/setup/e/{account_id}/{token}")

    def _link_state(self, account_id: str, token: str) -> LinkState:
        link = self.account_links.get(token)
        if link is None or link["account"] != account_id:
            return LinkState(None, None, "This onboarding link does not exist.")
        account = self.view(self.accounts[account_id])
        if link["used"]:
            return LinkState(account, link, "This onboarding link has already been used.")
        if self.now() >= link["expires_at"]:
            return LinkState(account, link, "This onboarding link has expired.")
        return LinkState(account, link, None)

    def open_link(self, account_id: str, token: str) -> LinkState:
        """The page is shown: a link opened before (a reload, a preview) no longer works."""
        with self.change():
            state = self._link_state(account_id, token)
            if state.problem is None and state.link is not None:
                if state.link["opened"]:
                    state.link["used"] = True
                    return LinkState(state.account, dict(state.link),
                                     "This onboarding link has already been used.")
                state.link["opened"] = True
            return LinkState(state.account, None if state.link is None else dict(state.link),
                             state.problem)

    def finish_link(self, account_id: str, token: str, action: str) -> tuple[str | None, LinkState]:
        """The page's form: ``complete`` (submit the details, go to ``return_url``),
        ``later`` (nothing changes, ``return_url``), ``leave`` (``refresh_url``).

        Returns the redirect, or ``None`` and why the link cannot be used.
        """
        if action not in ("complete", "later", "leave"):
            raise ValueError("action must be 'complete', 'later' or 'leave'")
        with self.change():
            state = self._link_state(account_id, token)
            if state.problem is not None or state.link is None:
                return None, state
            state.link["used"] = True
            if action == "complete":
                self.complete_onboarding(account_id)
            target: str = state.link["refresh_url" if action == "leave" else "return_url"]
            return target, state

    def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        """What completing Stripe's onboarding does (also the control API's shortcut)."""
        with self.change():
            account = self._require("accounts", account_id, "account")
            before = copy.deepcopy(account)
            account.update(details_submitted=True, charges_enabled=True, payouts_enabled=True,
                           requirements=connect_objects.requirements([]))
            account["capabilities"] = {name: "active" for name in account["capabilities"]}
            account["business_type"] = account["business_type"] or "individual"
            account["tos_acceptance"].update(date=self.now(), ip="127.0.0.1",
                                             user_agent="stripe_emulator onboarding")
            if before != account:
                self._emit("account.updated", account, self._changes(before, account),
                           account=account_id)
            return self.view(account)

    def restrict_account(self, account_id: str) -> dict[str, Any]:
        """Control: Stripe needs more information; payouts and transfers stop until the
        account goes through onboarding again (``account.updated``)."""
        with self.change():
            account = self._require("accounts", account_id, "account")
            before = copy.deepcopy(account)
            due = ["individual.verification.document"]
            account.update(charges_enabled=False, payouts_enabled=False,
                           requirements=connect_objects.requirements(due))
            account["capabilities"] = {name: "inactive" for name in account["capabilities"]}
            if before != account:
                self._emit("account.updated", account, self._changes(before, account),
                           account=account_id)
            return self.view(account)
