"""The console's forms for what the pack page says about an album: its description and credits
(one small form per album on the pack's console page) and each track's lyrics (a form per
track). Markdown, stored as typed (line ends made plain, control characters dropped) and
rendered through :mod:`shop.store.album_text` on the store's page.

Every save is audited with the lengths before and after (not the text: the log stays small),
and sets the album's ``text_updated_at``, which is part of the pack's catalog version: every
process renders the pack page again. Allowed whatever the pack's phase: words are not files.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from shop.admin import audit, bp
from shop.admin.views import operator
from shop.extensions import db
from shop.models import Album, Track, utcnow
from shop.store.album_text import LIMITS, check_length, clean_text

#: field -> its name in an error, and the verb that goes with it.
ALBUM_FIELDS = {"description": ("The description", "is"), "credits": ("The credits", "are")}

# The pack's console page shows the same forms (admin/_album_text.html) and their limits.
bp.record_once(lambda state: state.app.jinja_env.globals.update(album_text_limits=LIMITS))


def _album(pack_id: int, album_id: int) -> Album:
    album = db.session.get(Album, album_id)
    if album is None or album.pack_id != pack_id:
        abort(404, "No such album in this pack.")
    return album


def _back(album: Album) -> BaseResponse:
    return redirect(url_for("admin.pack", pack_id=album.pack_id) + f"#album-text-{album.id}", 303)


def _page(album: Album, values: dict[str, str], errors: dict[str, str], lyrics: dict[int, str] | None = None,
          status: int = 200) -> tuple[str, int]:
    return render_template("admin/album_text.html", pack=album.pack, album=album, values=values, errors=errors,
                           lyrics=lyrics or {}, limits=LIMITS), status


@bp.get("/packs/<int:pack_id>/albums/<int:album_id>/text")
def album_text(pack_id: int, album_id: int) -> tuple[str, int]:
    """The album's forms on a page of their own (where a form with errors comes back)."""
    album = _album(pack_id, album_id)
    return _page(album, {"description": album.description, "credits": album.credits}, {})


@bp.post("/packs/<int:pack_id>/albums/<int:album_id>/text")
def album_text_save(pack_id: int, album_id: int) -> BaseResponse | tuple[str, int]:
    album = _album(pack_id, album_id)
    values = {name: clean_text(request.form.get(name, "")) for name in ALBUM_FIELDS}
    errors = {}
    for name, (label, verb) in ALBUM_FIELDS.items():
        if name not in request.form:
            errors[name] = f"{label} {verb} missing from the form."
        elif error := check_length(name, values[name], label, verb):
            errors[name] = error.message
    if errors:
        return _page(album, values, errors, status=400)
    changed = [name for name in ALBUM_FIELDS if getattr(album, name) != values[name]]
    if not changed:
        flash(f"Nothing changed in {album.title}.")
        return _back(album)
    details = {"fields": changed, **{f"{name}_length": [len(getattr(album, name)), len(values[name])]
                                     for name in changed}}
    for name in changed:
        setattr(album, name, values[name])
    album.text_updated_at = utcnow()
    audit.record(operator(), "album.text", f"album:{album.id}", details, request.remote_addr)
    db.session.commit()
    flash(f"Saved the {' and '.join(changed)} of {album.title}.")
    return _back(album)


@bp.post("/packs/<int:pack_id>/albums/<int:album_id>/tracks/<int:track_id>/lyrics")
def track_lyrics_save(pack_id: int, album_id: int, track_id: int) -> BaseResponse | tuple[str, int]:
    album = _album(pack_id, album_id)
    track = db.session.get(Track, track_id)
    if track is None or track.album_id != album.id:
        abort(404, "No such track in this album.")
    values = {"description": album.description, "credits": album.credits}
    if "lyrics" not in request.form:
        return _page(album, values, {f"lyrics-{track.id}": "The lyrics are missing from the form."}, status=400)
    lyrics = clean_text(request.form["lyrics"])
    if error := check_length("lyrics", lyrics, f"The lyrics of {track.title}", "are"):
        return _page(album, values, {f"lyrics-{track.id}": error.message}, {track.id: lyrics}, status=400)
    if lyrics == track.lyrics:
        flash(f"Nothing changed in the lyrics of {track.title}.")
        return _back(album)
    audit.record(operator(), "track.lyrics", f"track:{track.id}",
                 {"album": album.id, "length": [len(track.lyrics), len(lyrics)]}, request.remote_addr)
    track.lyrics = lyrics
    album.text_updated_at = utcnow()
    db.session.commit()
    flash(f"Saved the lyrics of {track.title}." if lyrics else f"Removed the lyrics of {track.title}.")
    return _back(album)
