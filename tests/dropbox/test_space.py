"""Space first: a delivery that does not fit is refused before it starts; one that runs out parks.

Sizes: every seeded file is 2,048 bytes; the pack has nine tracks (three albums of 3, 2, 4).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import update

from shop.dropbox.album_paths import TEMP_PREFIX
from shop.dropbox.models import Delivery
from shop.extensions import db
from shop.models import TrackFile
from tests.dropbox.conftest import APP_KEY, BUYER_EMAIL
from tests.dropbox.test_delivery import buyer_files, calls, expected_files, run

FILE = 2048
JSON = {"Accept": "application/json"}


def click_pack(client, token, fmt="flac", **kw):
    return client.post(f"/orders/{token}/dropbox/pack", data={"format": fmt}, **kw)


def resize(fmt: str, size: int) -> None:
    """Make one format's files smaller in the catalogue (what the space check reads)."""
    db.session.execute(update(TrackFile).where(TrackFile.format == fmt).values(size=size))
    db.session.commit()


def test_a_pack_that_does_not_fit_is_refused_before_it_starts(client, dropbox_buyer, seeded_pack, emulator):
    order, token = dropbox_buyer
    resize("mp3-v0", 512)
    emulator.set_space_allocation(BUYER_EMAIL, 10_000)
    emulator.stats.reset()

    response = click_pack(client, token, headers=JSON)
    assert response.status_code == 409
    body = response.json
    assert body["reason"] == "insufficient_space"
    assert body["format"] == "flac" and body["needed"] == 9 * FILE and body["free"] == 10_000
    assert body["fits"] == [{"format": "mp3-v0", "needed": 9 * 512}]  # every other format is 18 KB too
    assert body["error"] == "FLAC needs 18.0 KB, you have 9.8 KB free in your Dropbox; MP3 V0 needs 4.5 KB."
    assert db.session.query(Delivery).count() == 0
    # Nothing was written: one space reading, and one listing per album to count what is there.
    assert calls(emulator, "users/get_space_usage") == 1
    assert calls(emulator, "files/list_folder") == 3
    assert calls(emulator, "files/copy_reference/save") == 0
    assert buyer_files(emulator) == {}


def test_the_order_page_says_what_does_not_fit(client, dropbox_buyer, seeded_pack, emulator):
    order, token = dropbox_buyer
    emulator.set_space_allocation(BUYER_EMAIL, 10_000)
    response = click_pack(client, token, fmt="wav")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("#dropbox-space-pack")
    page = client.get(f"/orders/{token}").data.decode()
    assert 'id="dropbox-space-pack"' in page
    assert "Not started: WAV needs 18.0 KB, you have 9.8 KB free in your Dropbox. Make room" in page
    assert db.session.query(Delivery).count() == 0

    # One album that fits starts; the pack's refusal stays beside the pack's button.
    album = seeded_pack.albums[1]
    response = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "wav"})
    assert response.status_code == 303 and "#delivery-" in response.headers["Location"]
    assert 'id="dropbox-space-pack"' in client.get(f"/orders/{token}").data.decode()


def test_files_already_in_the_buyers_folders_do_not_count_twice(client, dropbox_buyer, seeded_pack, emulator):
    order, token = dropbox_buyer
    first = client.post(f"/orders/{token}/dropbox/albums/{seeded_pack.albums[0].id}", data={"format": "flac"},
                        headers=JSON)
    assert first.status_code == 202
    run(db.session.get(Delivery, first.json["id"]))
    # Room for exactly the six files the buyer does not have yet (the whole pack is nine).
    emulator.set_space_allocation(BUYER_EMAIL, 3 * FILE + 6 * FILE)
    response = click_pack(client, token, headers=JSON)
    assert response.status_code == 202, response.json
    delivery = run(db.session.get(Delivery, response.json["id"]))
    assert delivery.status == "done"
    assert buyer_files(emulator) == expected_files(delivery)


def test_a_delivery_that_runs_out_of_space_parks_and_finishes_after_room_is_made(client, dropbox_buyer, seeded_pack,
                                                                                 emulator):
    order, token = dropbox_buyer
    emulator.set_space_allocation(BUYER_EMAIL, 100_000)
    response = click_pack(client, token, headers=JSON)
    assert response.status_code == 202
    delivery_id = response.json["id"]
    # Before the worker gets to it, the buyer's Dropbox fills up: room for six of the nine files.
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/big.bin", b"x" * (100_000 - 6 * FILE))

    parked = run(db.session.get(Delivery, delivery_id))
    assert parked.status == "needs_space"
    assert parked.error == ("Your Dropbox is full: 6 of 9 files arrived. The other 3 need 6.0 KB, you have "
                            "0 bytes free. Make room in your Dropbox, then press Retry.")
    assert Counter(f.status for f in parked.files) == {"done": 6, "pending": 3}
    assert len(buyer_files(emulator)) == 6 + 1  # what arrived stays
    status = client.get(f"/orders/{token}/dropbox/deliveries/{delivery_id}").json
    assert status["status"] == "needs_space" and status["done"] == 6
    page = client.get(f"/orders/{token}").data.decode()
    assert "I made room: retry" in page and "Your Dropbox is full" in page

    # Retry re-checks the space first: still full, nothing starts.
    retry_url = f"/orders/{token}/dropbox/deliveries/{delivery_id}/retry"
    refused = client.post(retry_url, headers=JSON)
    assert refused.status_code == 409
    assert refused.json["needed"] == 3 * FILE and refused.json["free"] == 0
    assert db.session.get(Delivery, delivery_id).status == "needs_space"

    # The buyer upgrades (or deletes something): the retry goes ahead and finishes.
    emulator.set_space_allocation(BUYER_EMAIL, 200_000)
    accepted = client.post(retry_url, headers=JSON)
    assert accepted.status_code == 202 and accepted.json["status"] == "queued"
    done = run(db.session.get(Delivery, delivery_id))
    assert done.status == "done", done.error
    files = buyer_files(emulator)
    assert expected_files(done).items() <= files.items()
    assert len(files) == 9 + 1  # every file exactly once, and the buyer's own file
    assert not any(" (2)" in path or path.startswith(TEMP_PREFIX) for path in files)
    # The album that was cut short (one file saved before the space ran out) was completed
    # through the batch path.
    assert Counter(f.method for f in done.files if f.album_id == seeded_pack.albums[2].id) == {
        "copy_reference": 1, "batch": 3}


def test_clicking_the_same_delivery_again_after_making_room_resumes_it(client, dropbox_buyer, seeded_pack, emulator):
    order, token = dropbox_buyer
    album = seeded_pack.albums[2]
    emulator.set_space_allocation(BUYER_EMAIL, 2 * FILE)
    # Fits at the click (nothing else there); by the time it runs, half the room is gone.
    response = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"}, headers=JSON)
    assert response.status_code == 409  # four files of 2 KB do not fit in 4 KB
    emulator.set_space_allocation(BUYER_EMAIL, 4 * FILE)
    response = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"}, headers=JSON)
    assert response.status_code == 202
    emulator.seed_file(BUYER_EMAIL, APP_KEY, "/notes.bin", b"x" * FILE)
    parked = run(db.session.get(Delivery, response.json["id"]))
    assert parked.status == "needs_space"
    emulator.set_space_allocation(BUYER_EMAIL, 5 * FILE)
    again = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"}, headers=JSON)
    assert again.status_code == 200 and again.json["id"] == parked.id and again.json["status"] == "queued"
    assert run(parked).status == "done"
    assert len(buyer_files(emulator)) == 4 + 1


def test_team_space_counts_the_team_and_the_members_own_limit():
    """Team allocations are not emulated: the SDK's own objects stand in for Dropbox's answer."""
    from dropbox import team_common, users

    from shop.dropbox.space import space_usage

    def usage(team: users.TeamSpaceAllocation, used: int):
        class Answer:
            def users_get_space_usage(self):
                return users.SpaceUsage(used=used, allocation=users.SpaceAllocation.team(team))
        return space_usage(Answer())

    no_member_limit = users.TeamSpaceAllocation(
        used=900, allocated=1000, user_within_team_space_allocated=0,
        user_within_team_space_limit_type=team_common.MemberSpaceLimitType.off, user_within_team_space_used_cached=50)
    assert usage(no_member_limit, used=50).free == 100
    limited = users.TeamSpaceAllocation(
        used=100, allocated=1000, user_within_team_space_allocated=80,
        user_within_team_space_limit_type=team_common.MemberSpaceLimitType.stop_sync,
        user_within_team_space_used_cached=50)
    assert usage(limited, used=50).free == 30
    alert_only = users.TeamSpaceAllocation(
        used=100, allocated=1000, user_within_team_space_allocated=80,
        user_within_team_space_limit_type=team_common.MemberSpaceLimitType.alert_only,
        user_within_team_space_used_cached=50)
    assert usage(alert_only, used=50).free == 900


def test_one_click_connect_into_a_full_dropbox_starts_nothing(client, app, seeded_pack, emulator):
    from tests import factories
    from tests.dropbox.test_connect import callback_path, consent

    order, token = factories.make_order(app, seeded_pack, email=BUYER_EMAIL)
    emulator.create_account(BUYER_EMAIL)
    emulator.set_space_allocation(BUYER_EMAIL, 1000)
    album = seeded_pack.albums[0]
    first = client.post(f"/orders/{token}/dropbox/albums/{album.id}", data={"format": "flac"})
    assert first.status_code == 303 and "/oauth2/authorize?" in first.headers["Location"]
    back = client.get(callback_path(consent(first.headers["Location"])))
    assert back.status_code == 303
    assert back.headers["Location"].endswith(f"#dropbox-space-album-{album.id}")
    assert db.session.query(Delivery).count() == 0
    page = client.get(f"/orders/{token}").data.decode()
    assert f'id="dropbox-space-album-{album.id}"' in page
    assert "Not started: FLAC needs 6.0 KB, you have 1000 bytes free in your Dropbox." in page
