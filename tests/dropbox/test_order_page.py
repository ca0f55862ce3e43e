"""What the order page shows about Dropbox, with and without JavaScript."""

from __future__ import annotations

import re

from shop.dropbox.deliveries import create_delivery
from shop.dropbox.models import DeliveryStatus, delivery_target
from shop.extensions import db


def test_active_delivery_shows_progress_and_refreshes_without_javascript(client, dropbox_buyer, seeded_pack):
    order, token = dropbox_buyer
    delivery, _ = create_delivery(order, f"album:{seeded_pack.albums[0].id}", "mp3-v0")
    html = client.get(f"/orders/{token}").data.decode()
    refresh = re.search(r'<noscript><meta http-equiv="refresh" content="3; url=([^"]+)"></noscript>', html).group(1)
    assert refresh.startswith(f"/orders/{token}?seen=") and refresh.endswith(f"#delivery-{delivery.id}")
    # Every render asks for a new URL, so the browser reloads instead of jumping to the anchor.
    again = client.get(f"/orders/{token}").data.decode()
    assert refresh not in again
    assert f'id="delivery-{delivery.id}"' in html
    assert f'data-progress-url="/orders/{token}/dropbox/deliveries/{delivery.id}"' in html
    assert '<progress class="progress" max="3" value="0"' in html
    assert "01 Kindling.mp3" in html and "waiting" in html


def test_finished_delivery_says_done_and_stops_refreshing(client, dropbox_buyer, seeded_pack):
    order, token = dropbox_buyer
    delivery, _ = create_delivery(order, f"album:{seeded_pack.albums[0].id}", "mp3-v0")
    for file in delivery.files:
        file.status = "done"
    delivery.status = DeliveryStatus.DONE.value
    db.session.commit()
    html = client.get(f"/orders/{token}").data.decode()
    # The done state is not the idle button: it says where the music is and links there.
    section = html.split(f'id="delivery-{delivery.id}"')[1].split("</div>")[0]
    assert '<strong class="state-done">In your Dropbox</strong> · <a class="open-dropbox" href="' in section
    assert ('href="https://www.dropbox.com/home/Apps/Indie%20Packs/The%20Quiet%20Fires%20-%20Ember%20Line%20%28MP3'
            '%20V0%29"') in section
    assert "3 MP3 V0 files in" in section and "/The Quiet Fires - Ember Line (MP3 V0)" in section
    album_box = html.split(f'id="album-{seeded_pack.albums[0].id}"')[1].split("</section>")[0]
    assert "Add to Dropbox<span" not in album_box and "Send again" in album_box
    assert 'http-equiv="refresh"' not in html


def test_failed_delivery_offers_retry_and_revoked_one_offers_reconnect(client, dropbox_buyer, seeded_pack):
    order, token = dropbox_buyer
    failed, _ = create_delivery(order, f"album:{seeded_pack.albums[0].id}", "mp3-v0")
    failed.status, failed.error = DeliveryStatus.FAILED.value, "1 of 3 files could not be copied"
    parked, _ = create_delivery(order, f"album:{seeded_pack.albums[1].id}", "mp3-v0")
    parked.status, parked.error = DeliveryStatus.NEEDS_RECONNECT.value, "Reconnect to finish."
    db.session.commit()
    html = client.get(f"/orders/{token}").data.decode()
    assert f'action="/orders/{token}/dropbox/deliveries/{failed.id}/retry"' in html
    assert "Retry the missing files" in html
    assert f'<form method="post" action="/orders/{token}/dropbox/connect">' in html
    assert "Reconnect Dropbox</button>" in html


def test_without_dropbox_settings_the_page_offers_no_dropbox(client, app, dropbox_buyer):
    order, token = dropbox_buyer
    app.config["DROPBOX_APP_KEY"] = None
    html = client.get(f"/orders/{token}").data.decode()
    assert "Add to Dropbox" not in html
    assert client.post(f"/orders/{token}/dropbox/connect").status_code == 503


# --- The page tells the truth when no worker is running (security review L5) -----------------------


PAUSED = "Paused: waiting for our delivery service to restart; this will continue by itself."


def test_a_delivery_without_a_live_worker_says_it_is_paused(client, dropbox_buyer, seeded_pack):
    from datetime import timedelta

    from shop.models import utcnow

    order, token = dropbox_buyer
    running, _ = create_delivery(order, delivery_target(seeded_pack.albums[0].id), "mp3-v0")
    queued, _ = create_delivery(order, delivery_target(seeded_pack.albums[1].id), "mp3-v0")
    fresh_one, _ = create_delivery(order, delivery_target(seeded_pack.albums[2].id), "mp3-v0")
    running.status, running.worker = "running", "gone:1:abc"
    running.heartbeat_at = utcnow() - timedelta(minutes=5)
    running.files[0].status = "done"
    queued.created_at = queued.enqueued_at = utcnow() - timedelta(minutes=10)
    db.session.commit()

    data = client.get(f"/orders/{token}/dropbox/deliveries/{running.id}").json
    assert data["status"] == "running" and data["stalled"] is True and data["notice"] == PAUSED
    assert 290 <= data["heartbeat_age"] <= 400
    data = client.get(f"/orders/{token}/dropbox/deliveries/{queued.id}").json
    assert data["stalled"] is True and data["notice"] == PAUSED
    data = client.get(f"/orders/{token}/dropbox/deliveries/{fresh_one.id}").json
    assert data["stalled"] is False and data["notice"] is None

    page = client.get(f"/orders/{token}").data.decode()
    assert page.count(PAUSED) == 2
    assert "1 of 3 files…" not in page  # not the frozen count as if all were well


def _done(delivery) -> None:
    for file in delivery.files:
        file.status = "done"
    delivery.status = DeliveryStatus.DONE.value


def test_one_dropbox_entry_point_per_album_and_for_the_pack(client, dropbox_buyer, seeded_pack):
    """Idle: one Add button per album and one for the pack, nothing else that starts Dropbox.
    Moving: progress instead of the button. Done: the done state, and the button only for
    another format."""
    order, token = dropbox_buyer
    first, second = seeded_pack.albums[:2]
    html = client.get(f"/orders/{token}").data.decode()
    actions = re.findall(r'<form class="dropbox-form" method="post" action="([^"]+)">', html)
    assert actions == [f"/orders/{token}/dropbox/pack"] + [
        f"/orders/{token}/dropbox/albums/{album.id}" for album in seeded_pack.albums]
    assert f"/orders/{token}/dropbox/connect" not in html and "In your Dropbox" not in html

    moving, _ = create_delivery(order, f"album:{first.id}", "mp3-v0")
    pack_delivery, _ = create_delivery(order, "pack", "mp3-v0")
    _done(pack_delivery)
    db.session.commit()
    html = client.get(f"/orders/{token}").data.decode()
    actions = re.findall(r'<form class="dropbox-form" method="post" action="([^"]+)">', html)
    assert actions == [f"/orders/{token}/dropbox/albums/{album.id}" for album in seeded_pack.albums[1:]]
    first_box = html.split(f'id="album-{first.id}"')[1].split("</section>")[0]
    assert f'id="delivery-{moving.id}"' in first_box and "of 3 files" in first_box
    pack_box = html.split('id="dropbox"')[1].split(f'id="album-{first.id}"')[0]
    # The pack's albums are several folders: "open it" opens the store's app folder.
    assert '<a class="open-dropbox" href="https://www.dropbox.com/home/Apps/Indie%20Packs" rel="noopener">' in pack_box

    # Done in MP3 V0; the page in FLAC offers FLAC beside the done state.
    _done(moving)
    db.session.commit()
    flac = client.get(f"/orders/{token}?format=flac").data.decode()
    first_box = flac.split(f'id="album-{first.id}"')[1].split("</section>")[0]
    assert "In your Dropbox</strong>" in first_box and " as FLAC</button>" in first_box
    mp3 = client.get(f"/orders/{token}?format=mp3-v0").data.decode()
    first_box = mp3.split(f'id="album-{first.id}"')[1].split("</section>")[0]
    assert "In your Dropbox</strong>" in first_box and "dropbox-form" not in first_box
    second_box = mp3.split(f'id="album-{second.id}"')[1].split("</section>")[0]
    assert "In your Dropbox" not in second_box and " as MP3 V0</button>" in second_box
