"""Stripe's wire format as the SDK sees it: keys, errors, idempotency, lists, ids, fields."""

from __future__ import annotations

import uuid

import pytest
import requests
import stripe

from emulator_common import ServerThread
from stripe_emulator import create_app
from stripe_emulator.wire import parse_params

from .conftest import API_KEY, MakeClient, NewSession, fast_settings, session_params

# Top-level fields of each object in Stripe's published fixtures (stripe/openapi fixtures3.json).
SESSION_FIELDS = set("""adaptive_pricing after_expiration allow_promotion_codes amount_subtotal
amount_total automatic_tax billing_address_collection cancel_url client_reference_id
client_secret collected_information consent consent_collection created currency
currency_conversion custom_fields custom_text customer customer_account customer_creation
customer_details customer_email discounts expires_at id integration_identifier invoice
invoice_creation livemode locale managed_payments metadata mode object origin_context
payment_intent payment_link payment_method_collection payment_method_configuration_details
payment_method_options payment_method_types payment_status permissions phone_number_collection
recovered_from saved_payment_method_options setup_intent shipping_address_collection
shipping_cost shipping_options status submit_type subscription success_url total_details
ui_mode url wallet_options""".split())


def test_missing_key_is_401(server: ServerThread, web: requests.Session) -> None:
    response = web.get(f"{server.base_url}/v1/checkout/sessions", timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Request-Id"].startswith("req_")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "You did not provide an API key" in error["message"]


@pytest.mark.parametrize("key", ["sk_live_abc123", "pk_test_abc123", "sk_test_", "nonsense"])
def test_wrong_key_raises_authentication_error(make_client: MakeClient, key: str) -> None:
    with pytest.raises(stripe.AuthenticationError) as caught:
        make_client(key).v1.checkout.sessions.list()
    assert caught.value.http_status == 401
    assert "Invalid API Key provided" in str(caught.value.user_message)
    assert caught.value.request_id.startswith("req_")


def test_fixed_key_set_refuses_other_test_keys(web: requests.Session) -> None:
    app = create_app(api_keys=["sk_test_only_this"], settings=fast_settings())
    try:
        with ServerThread(app) as server:
            def status(key: str) -> int:
                return web.get(f"{server.base_url}/v1/events",
                                headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code
            assert status("sk_test_only_this") == 200
            assert status("sk_test_other") == 401
    finally:
        app.extensions["stripe_emulator"].close()


def test_basic_auth_with_key_as_user_works(server: ServerThread, web: requests.Session) -> None:
    response = web.get(f"{server.base_url}/v1/events", auth=(API_KEY, ""), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"object": "list", "data": [], "has_more": False,
                               "url": "/v1/events"}


@pytest.mark.parametrize(("kind", "object_id", "name"), [
    ("checkout.sessions", "cs_test_nope", "checkout.session"),
    ("payment_intents", "pi_nope", "payment_intent"),
    ("charges", "ch_nope", "charge"),
    ("refunds", "re_nope", "refund"),
    ("disputes", "dp_nope", "dispute"),
    ("events", "evt_nope", "event"),
    ("webhook_endpoints", "we_nope", "webhook endpoint"),
])
def test_unknown_id_is_resource_missing(client: stripe.StripeClient, kind: str, object_id: str,
                                        name: str) -> None:
    service = client.v1
    for part in kind.split("."):
        service = getattr(service, part)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        service.retrieve(object_id)
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "id"
    assert caught.value.user_message == f"No such {name}: '{object_id}'"


def test_unknown_url_is_404_after_auth(client: stripe.StripeClient, server: ServerThread,
                                       web: requests.Session) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.raw_request("get", "/v1/customers")
    assert caught.value.http_status == 404
    assert "Unrecognized request URL (GET: /v1/customers)" in str(caught.value.user_message)
    assert web.get(f"{server.base_url}/v1/customers", timeout=10).status_code == 401


@pytest.mark.parametrize(("overrides", "param", "code"), [
    ({"mode": None}, "mode", "parameter_missing"),
    ({"line_items": None}, "line_items", "parameter_missing"),
    ({"success_url": None}, "success_url", "parameter_missing"),
    ({"success_url": "not a url"}, "success_url", "url_invalid"),
    ({"shipping": "x"}, "shipping", "parameter_unknown"),
    ({"line_items": [{"quantity": 1, "price_data": {"currency": "eur", "unit_amount": "abc",
                                                    "product_data": {"name": "P"}}}]},
     "line_items[0][price_data][unit_amount]", "parameter_invalid_integer"),
    ({"line_items": [{"quantity": 0, "price_data": {"currency": "eur", "unit_amount": 5,
                                                    "product_data": {"name": "P"}}}]},
     "line_items[0][quantity]", "parameter_invalid_integer"),
    ({"line_items": [{"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 5,
                                                    "product_data": {"description": "no name"}}}]},
     "line_items[0][price_data][product_data][name]", "parameter_missing"),
    ({"customer_email": "not-an-email"}, "customer_email", "email_invalid"),
    ({"payment_intent_data": {"capture_method": "manual"}},
     "payment_intent_data[capture_method]", "parameter_unknown"),
])
def test_invalid_session_params_are_400(client: stripe.StripeClient, overrides: dict,
                                        param: str, code: str) -> None:
    params = {k: v for k, v in session_params(**overrides).items() if v is not None}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    assert caught.value.http_status == 400
    assert caught.value.param == param
    assert caught.value.code == code
    assert caught.value.json_body["error"]["type"] == "invalid_request_error"


def test_expand_of_a_plain_field_is_400(client: stripe.StripeClient, new_session: NewSession
        ) -> None:
    session = new_session()
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["currency"]})
    assert caught.value.param == "expand[0]"
    assert "cannot be expanded (currency)" in str(caught.value.user_message)


def test_session_has_every_fixture_field(client: stripe.StripeClient, new_session: NewSession
        ) -> None:
    session = new_session()
    raw = client.raw_request("get", f"/v1/checkout/sessions/{session.id}")
    body = client.deserialize(raw, api_mode="V1")
    assert set(body.to_dict()) == SESSION_FIELDS
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.livemode is False


def test_idempotent_replay_returns_the_first_response(client: stripe.StripeClient,
                                                      server: ServerThread,
                                                      web: requests.Session) -> None:
    key = str(uuid.uuid4())
    first = client.v1.checkout.sessions.create(params=session_params(),  # type: ignore[arg-type]
                                               options={"idempotency_key": key})
    again = client.v1.checkout.sessions.create(params=session_params(),  # type: ignore[arg-type]
                                               options={"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(client.v1.checkout.sessions.list().data) == 1
    # The same key under another secret key is a different request.
    raw = web.post(f"{server.base_url}/v1/checkout/sessions",
                    headers={"Authorization": "Bearer sk_test_other", "Idempotency-Key": key},
                    data={"mode": "payment"}, timeout=10)
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "parameter_missing"
    assert "Idempotent-Replayed" not in raw.headers


def test_idempotency_key_reused_with_other_params_is_an_idempotency_error(
        client: stripe.StripeClient) -> None:
    key = str(uuid.uuid4())
    client.v1.checkout.sessions.create(params=session_params(),  # type: ignore[arg-type]
                                       options={"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="order-43"),  # type: ignore[arg-type]
            options={"idempotency_key": key})
    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "idempotency_error"
    assert key in str(caught.value.user_message)


def test_every_answer_has_a_request_id(server: ServerThread, web: requests.Session,
                                       new_session: NewSession) -> None:
    session = new_session()
    for response in (web.get(session.url, timeout=10),
                     web.get(f"{server.base_url}/__emulator__/clock", timeout=10),
                     web.get(f"{server.base_url}/v1/events", auth=(API_KEY, ""), timeout=10)):
        assert response.headers["Request-Id"].startswith("req_")


def test_lists_page_with_limit_and_starting_after(client: stripe.StripeClient,
                                                  new_session: NewSession) -> None:
    made = [new_session(client_reference_id=f"order-{n}").id for n in range(5)]
    first = client.v1.checkout.sessions.list(params={"limit": 2})
    assert first.object == "list" and first.url == "/v1/checkout/sessions"
    assert [s.id for s in first.data] == made[::-1][:2]
    assert first.has_more is True
    rest = client.v1.checkout.sessions.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [s.id for s in rest.data] == made[::-1][2:4]
    assert [s.id for s in first.auto_paging_iter()] == made[::-1]
    before = client.v1.checkout.sessions.list(params={"ending_before": made[1]})
    assert [s.id for s in before.data] == made[::-1][:3]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.list(params={"limit": 101})
    assert caught.value.param == "limit"


def test_module_level_api_base_works(server: ServerThread, new_session: NewSession,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    session = new_session()
    monkeypatch.setattr(stripe, "api_base", server.base_url)
    monkeypatch.setattr(stripe, "api_key", API_KEY)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    with requests.Session() as transport:
        transport.trust_env = False
        monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient(session=transport))
        fetched = stripe.checkout.Session.retrieve(session.id)
        assert fetched.id == session.id
        assert fetched.amount_total == 1500


def test_bracket_form_parsing() -> None:
    params = parse_params([
        ("line_items[0][price_data][unit_amount]", "900"),
        ("line_items[0][quantity]", "1"),
        ("line_items[1][quantity]", "2"),
        ("metadata[order_id]", "7"),
        ("expand[]", "payment_intent"),
        ("expand[]", "line_items"),
        ("enabled_events[0]", "*"),
    ])
    assert params == {
        "line_items": [{"price_data": {"unit_amount": "900"}, "quantity": "1"},
                       {"quantity": "2"}],
        "metadata": {"order_id": "7"},
        "expand": ["payment_intent", "line_items"],
        "enabled_events": ["*"],
    }
