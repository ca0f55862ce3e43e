"""A half-delivered album completes through the batch path: temp folder, one move batch, delete.

The job runs in this process against the emulator over HTTP, as in ``test_delivery.py``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import dropbox
import pytest

from dropbox_emulator.testing import RedirectingSession
from shop.dropbox import album_paths
from shop.dropbox.album_paths import TEMP_PREFIX
from shop.dropbox.deliveries import create_delivery
from shop.dropbox.jobs import Deliverer
from shop.dropbox.models import Delivery
from shop.extensions import db
from shop.models import utcnow
from tests.dropbox.conftest import APP_KEY, BUYER_EMAIL
from tests.dropbox.test_delivery import FakeSleep, buyer_files, calls, expected_files, run

COPY_ROUTES = ("files/list_folder", "files/copy_reference/save", "files/move_batch_v2",
               "files/move_batch/check_v2", "files/delete_v2")


def buyer_dbx(emulator_server) -> dropbox.Dropbox:
    server, emulator = emulator_server
    issued = emulator.issue_tokens(APP_KEY, BUYER_EMAIL)
    return dropbox.Dropbox(issued.access_token, session=RedirectingSession(server.base_url))


def album_delivery(order, album, fmt="flac") -> Delivery:
    delivery, created = create_delivery(order, f"album:{album.id}", fmt)
    assert created
    return delivery


def half_delivered(order, album, emulator_server, fmt="flac") -> list[str]:
    """Deliver the album, then delete every other file from the buyer's folder; returns those paths."""
    first = run(album_delivery(order, album, fmt))
    assert first.status == "done"
    gone = [f.path for f in first.files[::2]]
    dbx = buyer_dbx(emulator_server)
    for path in gone:
        dbx.files_delete_v2(path)
    return gone


def assert_every_file_once(emulator, delivery: Delivery, extra: int = 0) -> None:
    files = buyer_files(emulator)
    assert expected_files(delivery).items() <= files.items()
    assert len(files) == len(delivery.files) + extra
    assert not any(path.startswith(TEMP_PREFIX) for path in files), "a temporary folder was left behind"


def copy_calls(emulator) -> dict[str, int]:
    return {route: calls(emulator, route) for route in COPY_ROUTES}


def test_a_half_delivered_album_completes_through_the_batch_path(dropbox_buyer, seeded_pack, emulator_server):
    order, _ = dropbox_buyer
    emulator = emulator_server[1]
    album = seeded_pack.albums[2]  # four tracks
    gone = half_delivered(order, album, emulator_server)
    assert len(gone) == 2
    emulator.stats.reset()

    delivery = run(album_delivery(order, album))
    assert delivery.status == "done", delivery.error
    assert Counter(f.method for f in delivery.files) == {"already_there": 2, "batch": 2}
    assert {f.path for f in delivery.files if f.method == "batch"} == set(gone)
    assert_every_file_once(emulator, delivery)
    assert not any(" (2)" in path for path in buyer_files(emulator))
    # One listing, one save to the temporary folder, one move batch, one check, one delete.
    assert copy_calls(emulator) == {"files/list_folder": 1, "files/copy_reference/save": 1,
                                    "files/move_batch_v2": 1, "files/move_batch/check_v2": 1,
                                    "files/delete_v2": 1}
    assert emulator.stats.as_json()["accounts"][BUYER_EMAIL]["calls_total"] == 5


def test_the_batch_costs_the_same_calls_whatever_the_track_count(dropbox_buyer, seeded_pack, emulator_server):
    order, _ = dropbox_buyer
    emulator = emulator_server[1]
    totals = []
    for album in (seeded_pack.albums[1], seeded_pack.albums[2]):  # two tracks, four tracks
        half_delivered(order, album, emulator_server, "wav")
        emulator.stats.reset()
        delivery = run(album_delivery(order, album, "wav"))
        assert delivery.status == "done"
        totals.append(emulator.stats.as_json()["accounts"][BUYER_EMAIL]["calls_total"])
    assert totals == [5, 5]


def test_a_different_file_under_our_name_is_kept_and_ours_gets_the_2_name(dropbox_buyer, seeded_pack, emulator_server):
    order, _ = dropbox_buyer
    emulator = emulator_server[1]
    album = seeded_pack.albums[2]
    gone = half_delivered(order, album, emulator_server)
    folder = gone[0].rsplit("/", 1)[0]
    # The buyer replaced one of the files that had arrived with a file of their own.
    kept = f"{folder}/02 Two.flac"
    emulator.seed_file(BUYER_EMAIL, APP_KEY, kept, b"the buyer's own take")

    delivery = run(album_delivery(order, album))
    assert delivery.status == "done", delivery.error
    files = buyer_files(emulator)
    ours = next(f for f in delivery.files if f.name == "02 Two.flac")
    assert ours.method == "batch"
    assert ours.final_path == f"{folder}/02 Two (2).flac"
    assert files[ours.final_path] == ours.track_file.dropbox_content_hash
    assert files[kept] != ours.track_file.dropbox_content_hash  # theirs, untouched
    assert sorted(p for p in files if " (2)" in p) == [ours.final_path]
    assert len(files) == len(delivery.files) + 1
    assert not any(path.startswith(TEMP_PREFIX) for path in files)


@pytest.mark.parametrize("in_progress_checks", [0, 3])
def test_the_batch_path_polls_an_async_move_with_backoff(dropbox_buyer, seeded_pack, emulator_server,
                                                         in_progress_checks):
    order, _ = dropbox_buyer
    emulator = emulator_server[1]
    album = seeded_pack.albums[2]
    half_delivered(order, album, emulator_server)
    emulator.set_batch_mode(asynchronous=True, in_progress_checks=in_progress_checks)
    emulator.stats.reset()
    sleep = FakeSleep()
    delivery = run(album_delivery(order, album), sleep=sleep)
    assert delivery.status == "done"
    assert Counter(f.method for f in delivery.files)["batch"] == 2
    assert calls(emulator, "files/move_batch/check_v2") == in_progress_checks + 1
    # One pause before each check, doubling from a short first one.
    assert sleep.calls == [0.05 * 2**n for n in range(in_progress_checks + 1)]
    assert_every_file_once(emulator, delivery)


def test_an_immediate_batch_answer_needs_no_check(dropbox_buyer, seeded_pack, emulator_server):
    order, _ = dropbox_buyer
    emulator = emulator_server[1]
    album = seeded_pack.albums[2]
    half_delivered(order, album, emulator_server)
    emulator.set_batch_mode(asynchronous=False)
    emulator.stats.reset()
    delivery = run(album_delivery(order, album))
    assert delivery.status == "done"
    assert calls(emulator, "files/move_batch/check_v2") == 0
    assert emulator.stats.as_json()["accounts"][BUYER_EMAIL]["calls_total"] == 4
    assert_every_file_once(emulator, delivery)


class Killed(Exception):
    """Stands for the worker process dying at this point."""


def kill_once(monkeypatch, method: str) -> None:
    original = getattr(album_paths, method)
    state = {"armed": True}

    def dying(*args, **kwargs):
        if state["armed"]:
            state["armed"] = False
            raise Killed(method)
        return original(*args, **kwargs)

    monkeypatch.setattr(album_paths, method, dying)


def presumed_dead(delivery_id: int) -> None:
    """What a killed worker leaves: a running delivery whose heartbeat stopped."""
    db.session.rollback()
    delivery = db.session.get(Delivery, delivery_id)
    assert delivery.status == "running"
    delivery.heartbeat_at = utcnow() - timedelta(hours=1)
    db.session.commit()


@pytest.mark.parametrize("dies_in", ["move_batch", "remove_temp"])
def test_a_job_killed_inside_the_batch_path_is_finished_by_the_next_run(dropbox_buyer, seeded_pack, emulator_server,
                                                                        monkeypatch, dies_in):
    """Killed after the save to the temporary folder (before the move), or after the move (before the
    delete): the next run finds the traces, cleans up, and every file is there exactly once."""
    order, _ = dropbox_buyer
    emulator = emulator_server[1]
    album = seeded_pack.albums[2]
    half_delivered(order, album, emulator_server)
    delivery = album_delivery(order, album)
    kill_once(monkeypatch, dies_in)
    with pytest.raises(Killed):
        Deliverer(delivery.id, sleep=FakeSleep()).run()
    assert any(path.startswith(TEMP_PREFIX) for path in buyer_files(emulator)), "the save had happened"
    presumed_dead(delivery.id)

    again = run(delivery)
    assert again.status == "done", again.error
    assert_every_file_once(emulator, again)
    assert not any(" (2)" in path for path in buyer_files(emulator))
    assert again.attempts == 2


def test_without_a_folder_reference_the_missing_files_go_one_by_one(dropbox_buyer, seeded_pack, emulator_server):
    from tests.dropbox.conftest import per_file_only

    order, _ = dropbox_buyer
    emulator = emulator_server[1]
    album = seeded_pack.albums[2]
    half_delivered(order, album, emulator_server)
    per_file_only()
    emulator.stats.reset()
    delivery = run(album_delivery(order, album))
    assert delivery.status == "done"
    assert Counter(f.method for f in delivery.files) == {"already_there": 2, "copy_reference": 2}
    assert calls(emulator, "files/copy_reference/save") == 2
    assert_every_file_once(emulator, delivery)
