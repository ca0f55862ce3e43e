"""Import names each album's artist: the same name reuses the artist, a new spelling of a known
name is a second artist linked to the first for the operator to confirm (never merged)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.artists import Artist
from shop.extensions import db
from shop.models import Album
from tests.catalog.audio import write_album

# The database engine is under test here: these also run on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.postgresql


def _import(runner, folder):
    result = runner.invoke(args=["catalog", "import", str(folder), "--pack", "spelling-pack"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_known_name_is_reused_and_a_new_spelling_is_linked_not_merged(app, runner, tmp_path):
    write_album(tmp_path / "one" / "Lemonade", "Beyoncé", "Lemonade", ["Hold Up"], cover=False, seconds=0.5)
    first = _import(runner, tmp_path / "one")
    assert "spelled like" not in first
    write_album(tmp_path / "two" / "Four", "Beyoncé", "4", ["Halo"], cover=False, seconds=0.5)
    write_album(tmp_path / "two" / "Renaissance", "BEYONCE ", "Renaissance", ["Cuff It"], cover=False, seconds=0.5)
    second = _import(runner, tmp_path / "two")
    assert "spelled like 'Beyoncé'" in second and "console" in second

    db.session.expire_all()
    artists = {a.name: a for a in db.session.scalars(select(Artist))}
    albums = {a.title: a for a in db.session.scalars(select(Album))}
    original = artists["Beyoncé"]
    assert albums["Lemonade"].artist_id == albums["4"].artist_id == original.id
    [spelling] = [a for name, a in artists.items() if name != "Beyoncé"]
    assert spelling.same_as_id == original.id and original.same_as_id is None
    assert albums["Renaissance"].artist_id == spelling.id
    assert spelling.name_key == original.name_key == "beyonce"

    # Importing the same folders again changes nothing: no third artist, no new link.
    _import(runner, tmp_path / "two")
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count(Artist.id))) == 2
