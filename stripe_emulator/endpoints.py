"""Webhook endpoints through the API and from the command line."""

from __future__ import annotations

import copy
import re
from typing import Any

from . import objects, versions
from .core import EmulatorCore, merge_metadata
from .ids import new_webhook_secret
from .wire import check_known, invalid, metadata, missing, text

_EVENT_TYPE = re.compile(r"^\*$|^[a-z_]+(\.[a-z_]+)+$")


class Endpoints(EmulatorCore):
    """``/v1/webhook_endpoints`` and endpoints given at start-up."""

    ENDPOINT_PARAMS = ("url", "enabled_events", "description", "metadata", "api_version",
                       "connect")

    def create_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/webhook_endpoints``; the answer is the only one showing ``secret``."""
        check_known(params, self.ENDPOINT_PARAMS)
        url = self._url(params, "url", required=True)
        events = self._enabled_events(params, required=True)
        assert url is not None and events is not None
        version = text(params, "api_version")
        if version is not None:
            versions.check_version(version, "api_version")
        connect = text(params, "connect")
        if connect not in (None, "true", "false"):
            raise invalid("connect", f"Invalid boolean: {connect}", "parameter_invalid_boolean")
        with self.change():
            endpoint = objects.webhook_endpoint(
                created=self.now(), url=url, enabled_events=events,
                description=text(params, "description"), metadata=metadata(params) or {},
                api_version=version, secret=new_webhook_secret())
            self.webhook_endpoints[endpoint["id"]] = endpoint
            if connect == "true":
                self.connect_endpoints[endpoint["id"]] = True
            return copy.deepcopy(endpoint)

    @staticmethod
    def _enabled_events(params: dict[str, Any], required: bool) -> list[str] | None:
        events = params.get("enabled_events")
        if events is None:
            if required:
                raise missing("enabled_events")
            return None
        if isinstance(events, str):
            events = [events]
        if not isinstance(events, list) or not events:
            raise invalid("enabled_events", "Invalid array")
        for index, name in enumerate(events):
            if not isinstance(name, str) or not _EVENT_TYPE.match(name):
                raise invalid(f"enabled_events[{index}]",
                              f"Invalid enabled_events[{index}]: {name!r} is not an event type")
        return list(events)

    def add_endpoint(self, url: str, secret: str | None = None,
                     enabled_events: list[str] | None = None, configured: bool = False,
                     connect: bool = False) -> dict[str, Any]:
        """Register an endpoint with a known secret (command line, control API).

        The same URL and secret again returns the existing endpoint (restarts with
        ``--data-dir`` do not duplicate it).

        :param connect: it receives the events of connected accounts (``connect=true``),
            and only those.
        """
        secret = secret or new_webhook_secret()
        if not secret.startswith("whsec_"):
            raise ValueError("a webhook secret starts with whsec_")
        events = self._enabled_events({"enabled_events": enabled_events or ["*"]}, True)
        assert events is not None
        with self.change():
            for endpoint in self.webhook_endpoints.values():
                if (endpoint["url"] == url and endpoint["secret"] == secret
                        and self.connect_endpoints.get(endpoint["id"], False) == connect):
                    endpoint["enabled_events"] = events
                    break
            else:
                endpoint = objects.webhook_endpoint(
                    created=self.now(), url=url, enabled_events=events, description=None,
                    metadata={}, api_version=None, secret=secret)
                self.webhook_endpoints[endpoint["id"]] = endpoint
            if configured:
                self.configured_endpoints.add(endpoint["id"])
            if connect:
                self.connect_endpoints[endpoint["id"]] = True
            return copy.deepcopy(endpoint)

    def update_endpoint(self, endpoint_id: str, params: dict[str, Any]) -> dict[str, Any]:
        check_known(params, ("url", "enabled_events", "description", "metadata", "disabled"))
        with self.change():
            endpoint = self._require("webhook_endpoints", endpoint_id)
            url = self._url(params, "url")
            events = self._enabled_events(params, required=False)
            disabled = text(params, "disabled")
            if disabled not in (None, "true", "false"):
                raise invalid("disabled", f"Invalid boolean: {disabled}",
                              "parameter_invalid_boolean")
            if url is not None:
                endpoint["url"] = url
            if events is not None:
                endpoint["enabled_events"] = events
            if "description" in params:
                endpoint["description"] = text(params, "description")
            endpoint["metadata"] = merge_metadata(endpoint["metadata"], params)
            if disabled is not None:
                endpoint["status"] = "disabled" if disabled == "true" else "enabled"
            return self.view(endpoint)

    def delete_endpoint(self, endpoint_id: str) -> dict[str, Any]:
        with self.change():
            self._require("webhook_endpoints", endpoint_id)
            del self.webhook_endpoints[endpoint_id]
            self.configured_endpoints.discard(endpoint_id)
            self.connect_endpoints.pop(endpoint_id, None)
            return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

