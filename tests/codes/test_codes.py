"""Download codes: batches, /redeem with its receipt over real SMTP, once only, one answer
for wrong and used codes, the rate limit, the console, and the stats that leave codes out."""

from __future__ import annotations

import csv
import io
import re
import threading
import zipfile
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from shop.accounting import pack_stats
from shop.codes import batches
from shop.codes.models import CodeBatch, DownloadCode
from shop.codes.redeem import REFUSED, CodeRefused, redeem
from shop.extensions import db
from shop.models import CODE_PROVIDER, Order
from tests import factories
from tests.admin.conftest import audit_rows, csrf_token

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql

CODE_SHAPE = re.compile(r"[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}")


def make_codes(pack, size: int = 3) -> list[str]:
    batch = batches.create_batch(pack, size, label="gig")
    db.session.commit()
    return [row.split(",")[0] for row in list(batches.export_rows(batch))[1:]]


def orders_from_codes() -> list[Order]:
    return list(db.session.scalars(select(Order).where(Order.payment_provider == CODE_PROVIDER)))


def page_without(response, code: str) -> str:
    """The page as HTML with the code typed into it blanked (the form shows it back)."""
    return response.get_data(as_text=True).replace(code, "CODE")


def test_a_batch_of_ten_thousand_unguessable_typeable_codes(app, pack):
    batch = batches.create_batch(pack, batches.MAX_BATCH)
    db.session.commit()
    codes = [line.split(",")[0] for line in list(batches.export_rows(batch))[1:]]
    assert len(codes) == len(set(codes)) == 10_000
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)
    assert not set("".join(codes)) & set("01OILU")
    # Only a hash and an encrypted copy are stored, never the code itself.
    stored = db.session.execute(select(DownloadCode.code_hash, DownloadCode.code_enc)).all()
    assert codes[0] not in {value for row in stored for value in row}
    assert db.session.scalar(select(func.count(DownloadCode.id))) == 10_000
    with pytest.raises(batches.BatchError):
        batches.create_batch(pack, batches.MAX_BATCH + 1)
    with pytest.raises(batches.BatchError):
        batches.create_batch(pack, 0)


def test_redeem_gives_an_order_its_receipt_and_not_a_sale(client, app, pack, inbox):
    code = make_codes(pack)[0]
    assert client.get("/redeem").status_code == 200
    response = client.post("/redeem", data={"code": code.lower().replace("-", " "), "email": "Fan@Example.com"})
    assert response.status_code == 303
    link = response.headers["Location"]
    assert re.fullmatch(r"/orders/[A-Za-z0-9_-]{43}", link)
    assert client.get(link).status_code == 200
    [order] = orders_from_codes()
    assert (order.email, order.amount_cents, order.is_paid) == ("fan@example.com", 0, True)
    [mail] = inbox.to("fan@example.com")
    assert f"http://shop.test{link[:8]}" in mail.get_body(("plain",)).get_content()
    # Counted apart: the pack's purchases, total and average stay those of sales.
    factories.make_order(app, pack, amount_cents=1500)
    assert pack_stats(pack.id) == (1, 1500, 1500)
    page = client.get(f"/packs/{pack.slug}").get_data(as_text=True)
    assert '<dd data-stat="purchases">1</dd>' in page


def test_a_code_opens_one_order_and_a_double_click_the_same_one(client, app, pack, inbox):
    code = make_codes(pack)[0]
    first = client.post("/redeem", data={"code": code, "email": "fan@example.com"})
    again = client.post("/redeem", data={"code": code, "email": "fan@example.com"})
    assert first.status_code == again.status_code == 303
    assert len(orders_from_codes()) == 1
    assert client.get(again.headers["Location"]).status_code == 200
    assert len(inbox.to("fan@example.com")) == 1  # the repeat mails nothing
    other = client.post("/redeem", data={"code": code, "email": "someone@example.com"})
    assert other.status_code == 400 and REFUSED in other.get_data(as_text=True)
    assert len(orders_from_codes()) == 1


def test_wrong_used_and_revoked_codes_get_the_same_answer(client, app, pack):
    used, revoked = make_codes(pack, 2)
    assert client.post("/redeem", data={"code": used, "email": "a@example.com"}).status_code == 303
    batches.revoke_code(revoked)
    db.session.commit()
    in_revoked_batch = make_codes(pack, 1)[0]
    batch = db.session.scalars(select(CodeBatch).order_by(CodeBatch.id.desc())).first()
    batches.revoke_batch(batch)
    db.session.commit()
    typed = (used, revoked, in_revoked_batch, "WXYZ-WXYZ-WXYZ", "not a code")
    answers = [client.post("/redeem", data={"code": code, "email": "b@example.com"}) for code in typed]
    assert {a.status_code for a in answers} == {400}
    bodies = {page_without(answer, code) for answer, code in zip(answers, typed, strict=True)}
    assert len(bodies) == 1 and REFUSED in bodies.pop()
    assert len(orders_from_codes()) == 1


def test_a_repeat_long_after_is_refused_like_a_used_code(app, pack):
    code = make_codes(pack)[0]
    redeem(code, "fan@example.com")
    row = db.session.scalar(select(DownloadCode).where(DownloadCode.order_id.is_not(None)))
    row.redeemed_at -= timedelta(hours=1)
    db.session.commit()
    with pytest.raises(CodeRefused):
        redeem(code, "fan@example.com")


def test_bad_email_is_a_form_error_and_uses_no_code(client, app, pack):
    code = make_codes(pack)[0]
    response = client.post("/redeem", data={"code": code, "email": "not an address"})
    assert response.status_code == 400
    assert orders_from_codes() == []
    assert client.post("/redeem", data={"code": code, "email": "fan@example.com"}).status_code == 303


def test_codes_work_after_the_sale_ended(client, app, ended_pack):
    code = make_codes(ended_pack)[0]
    response = client.post("/redeem", data={"code": code, "email": "late@example.com"})
    assert response.status_code == 303
    assert client.get(response.headers["Location"]).status_code == 200


def test_redeem_is_rate_limited_per_client_right_or_wrong(client, app, pack):
    app.config["REDEEMS_PER_CLIENT"] = 3
    code = make_codes(pack)[0]
    for _ in range(3):
        assert client.post("/redeem", data={"code": "ABCD-EFGH-JKMN", "email": "x@example.com"}).status_code == 400
    response = client.post("/redeem", data={"code": code, "email": "x@example.com"})
    assert response.status_code == 429
    assert orders_from_codes() == []
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    assert other.post("/redeem", data={"code": code, "email": "x@example.com"}).status_code == 303


def test_console_makes_exports_counts_and_revokes_codes(admin_client, app, pack, operator):
    token = csrf_token(admin_client, "/admin/codes")
    response = admin_client.post("/admin/codes", data={"pack_id": pack.id, "size": "5", "label": "press",
                                                       "csrf_token": token})
    assert response.status_code == 303
    batch = db.session.scalar(select(CodeBatch))
    export = admin_client.get(f"/admin/codes/{batch.id}/codes.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert len(rows) == 5 and {r["status"] for r in rows} == {"live"}
    redeem(rows[0]["code"], "fan@example.com")
    page = admin_client.get("/admin/codes").get_data(as_text=True)
    assert re.search(r'class="redeemed">1<', page)
    token = csrf_token(admin_client, "/admin/codes")
    assert admin_client.post("/admin/codes/revoke-one", data={"code": rows[1]["code"], "csrf_token": token}
                             ).status_code == 303
    assert admin_client.post(f"/admin/codes/{batch.id}/revoke", data={"csrf_token": token}).status_code == 303
    with pytest.raises(CodeRefused):
        redeem(rows[2]["code"], "late@example.com")
    again = list(csv.DictReader(io.StringIO(admin_client.get(f"/admin/codes/{batch.id}/codes.csv")
                                            .get_data(as_text=True))))
    assert [r["status"] for r in again][:3] == ["redeemed", "revoked", "revoked"]
    actions = [e.action for e in audit_rows()]
    assert actions.count("codes.batch") == 1 and actions.count("codes.export") == 2
    assert "codes.revoke_code" in actions and "codes.revoke_batch" in actions


def test_console_refuses_a_batch_too_large(admin_client, app, pack):
    token = csrf_token(admin_client, "/admin/codes")
    response = admin_client.post("/admin/codes", data={"pack_id": pack.id, "size": "10001", "csrf_token": token},
                                 follow_redirects=True)
    assert "No codes made" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(DownloadCode.id))) == 0


def test_a_code_is_redeemed_once_under_twenty_concurrent_attempts(app, pack):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and unique-index waits are PostgreSQL's; SQLite serialises every writer")
    code = make_codes(pack, 1)[0]
    attempts = 20
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []
    errors: list[Exception] = []

    def attempt(number: int) -> None:
        # Half the callers double-click with one address, the others try their own.
        address = "same@example.com" if number % 2 else f"fan{number}@example.com"
        with app.app_context():
            barrier.wait()
            try:
                order, _, created = redeem(code, address)
                outcomes.append(f"{'created' if created else 'repeat'}:{order.id}:{order.email}")
            except CodeRefused:
                outcomes.append("refused")
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    created = [o for o in outcomes if o.startswith("created")]
    assert len(created) == 1
    db.session.expire_all()
    [order] = orders_from_codes()
    winner = order.email
    # Every other caller with the winner's address got the same order; everyone else was refused.
    for outcome in outcomes:
        if outcome == "refused":
            continue
        assert outcome.endswith(f":{order.id}:{winner}")
    assert outcomes.count("refused") == sum(1 for n in range(attempts)
                                            if (("same@example.com" if n % 2 else f"fan{n}@example.com") != winner))


def test_an_album_code_opens_that_album_only(client, app, pack, inbox):
    first, second = pack.albums
    batch = batches.create_batch(pack, 1, album=second)
    db.session.commit()
    code = list(batches.export_rows(batch))[1].split(",")[0]
    link = client.post("/redeem", data={"code": code, "email": "fan@example.com"}).headers["Location"]
    token = link.rsplit("/", 1)[1]
    page = client.get(link).get_data(as_text=True)
    assert str(escape(second.title)) in page and str(escape(first.title)) not in page
    assert client.get(f"/orders/{token}/albums/{second.id}/flac.zip").status_code == 200
    assert client.get(f"/orders/{token}/albums/{first.id}/flac.zip").status_code == 404
    assert client.get(f"/orders/{token}/tracks/{first.tracks[0].id}/flac").status_code == 404
    assert client.get(f"/orders/{token}/tracks/{second.tracks[0].id}/flac").status_code == 200
    whole = client.get(f"/orders/{token}/pack/flac.zip")
    assert whole.status_code == 200
    folders = {name.split("/")[0] for name in zipfile.ZipFile(io.BytesIO(whole.data)).namelist()}
    assert len(folders) == 1  # the one album
    assert client.post(f"/orders/{token}/dropbox/albums/{first.id}", data={"format": "flac"}).status_code == 404
    with pytest.raises(batches.BatchError):
        batches.create_batch(factories.make_pack(app, slug="other-pack"), 1, album=second)
