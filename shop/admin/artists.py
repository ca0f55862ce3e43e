"""The console's work on artists, without Flask's request: the edit form's checks, merging a
new spelling into the artist it may be, keeping two apart, the list's figures.

Merging moves albums only: the ledger is never rewritten, so an artist that already has
ledger entries (or payouts) cannot be merged away.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update

from shop.admin import audit
from shop.admin.models import Operator
from shop.artists import MAX_LINKS, Artist, PayoutMethod, StatementLink, StatementMail, name_key
from shop.email_address import EmailError, normalize_email
from shop.extensions import db
from shop.ledger.models import LedgerEntry, Payout
from shop.ledger.statements import balances
from shop.models import Album, Pack, utcnow

MAX_NAME = 200
MAX_BIO = 2000
MAX_LINK = 500
FIELDS = ("name", "email", "bio", "links", "payout_method")


class ArtistFormError(ValueError):
    """The edit form's errors, by field (``errors``), for the page to show beside each field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ArtistForm:
    name: str
    email: str | None
    bio: str
    links: tuple[str, ...]
    payout_method: str


def form_values(artist: Artist) -> dict[str, str]:
    return {"name": artist.name, "email": artist.email or "", "bio": artist.bio,
            "links": "\n".join(artist.links), "payout_method": artist.payout_method}


def posted_values(form: Mapping[str, str]) -> dict[str, str]:
    # Clipped well above every limit, so a huge field is refused by its check, not stored.
    return {name: str(form.get(name, ""))[:20_000] for name in FIELDS}


def _link_error(link: str) -> str | None:
    if len(link) > MAX_LINK:
        return f"a link is longer than {MAX_LINK} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in link):
        return f"{link[:80]!r} has a space or a control character in it"
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{link[:80]!r} is not a web address: links start with http:// or https://"
    return None


def parse_form(values: Mapping[str, str], artist: Artist) -> ArtistForm:
    """The edit, checked.

    :raises ArtistFormError: naming what is wrong with each field.
    """
    errors: dict[str, str] = {}
    name = " ".join(values.get("name", "").split())
    if not name:
        errors["name"] = "The name is required."
    elif len(name) > MAX_NAME:
        errors["name"] = f"The name is longer than {MAX_NAME} characters."
    elif db.session.scalar(select(Artist.id).where(Artist.name == name, Artist.id != artist.id)):
        errors["name"] = "Another artist has exactly this name: merge the two instead."
    email: str | None = None
    if values.get("email", "").strip():
        try:
            email = normalize_email(values["email"])
        except EmailError:
            errors["email"] = "Enter a valid e-mail address (statements are sent there), or leave it empty."
    bio = values.get("bio", "").strip().replace("\r\n", "\n")
    if len(bio) > MAX_BIO:
        errors["bio"] = f"The bio is longer than {MAX_BIO} characters ({len(bio)})."
    links = tuple(line.strip() for line in values.get("links", "").splitlines() if line.strip())
    if len(links) > MAX_LINKS:
        errors["links"] = f"At most {MAX_LINKS} links, one per line ({len(links)} given)."
    else:
        problem = next((e for e in map(_link_error, links) if e), None)
        if problem:
            errors["links"] = f"Not saved: {problem}."
    method = values.get("payout_method", "")
    if method not in {m.value for m in PayoutMethod}:
        errors["payout_method"] = "Choose how the artist is paid: by hand or through Stripe."
    if errors:
        raise ArtistFormError(errors)
    return ArtistForm(name=name, email=email, bio=bio, links=links, payout_method=method)


def update_artist(artist: Artist, form: ArtistForm, operator: Operator, ip: str | None) -> list[str]:
    """Save the edit with its audit row (committed); the names of the fields that changed."""
    before = form_values(artist)
    artist.name, artist.name_key = form.name, name_key(form.name)
    artist.email, artist.bio = form.email, form.bio
    artist.links_text = "\n".join(form.links)
    artist.payout_method = form.payout_method
    after = form_values(artist)
    changed = [k for k in FIELDS if before[k] != after[k]]
    if changed:
        audit.record(operator, "artist.edit", f"artist:{artist.id}",
                     {k: {"from": before[k][:200], "to": after[k][:200]} for k in changed}, ip)
        # The pack pages show the bio and links beside the albums: the albums' words changed,
        # which moves their packs' catalog version, so every process renders them again.
        db.session.execute(update(Album).where(Album.artist_id == artist.id).values(text_updated_at=utcnow()))
    db.session.commit()
    return changed


class MergeRefused(ValueError):
    """The artist cannot be merged; ``str(exc)`` says why."""


def merge_refusal(duplicate: Artist) -> str | None:
    if duplicate.same_as_id is None:
        return "this artist is not marked as a possible duplicate"
    has_ledger = db.session.scalar(select(func.count(LedgerEntry.id)).where(LedgerEntry.artist_id == duplicate.id))
    has_payouts = db.session.scalar(select(func.count(Payout.id)).where(Payout.artist_id == duplicate.id))
    if has_ledger or has_payouts:
        return (f"{duplicate.name} already has money in the ledger, which is never rewritten; "
                "keep the two apart (their statements stay separate)")
    return None


def merge(duplicate: Artist, operator: Operator, ip: str | None) -> Artist:
    """Move the duplicate's albums to the artist it may be, and remove the duplicate (committed).

    :raises MergeRefused: see :func:`merge_refusal`.
    """
    refusal = merge_refusal(duplicate)
    if refusal:
        raise MergeRefused(refusal)
    target = duplicate.same_as
    assert target is not None
    album_ids = [a.id for a in duplicate.albums]
    db.session.execute(update(Album).where(Album.artist_id == duplicate.id).values(artist_id=target.id))
    db.session.execute(update(Artist).where(Artist.same_as_id == duplicate.id).values(same_as_id=target.id))
    db.session.execute(delete(StatementLink).where(StatementLink.artist_id == duplicate.id))
    db.session.execute(delete(StatementMail).where(StatementMail.artist_id == duplicate.id))
    audit.record(operator, "artist.merge", f"artist:{target.id}",
                 {"merged": duplicate.id, "name": duplicate.name, "albums": album_ids}, ip)
    db.session.execute(delete(Artist).where(Artist.id == duplicate.id))
    db.session.commit()
    db.session.expire_all()
    return target


def keep_apart(artist: Artist, operator: Operator, ip: str | None) -> bool:
    """Clear the "possibly the same as" mark (committed); False when there was none."""
    if artist.same_as_id is None:
        return False
    audit.record(operator, "artist.keep_apart", f"artist:{artist.id}", {"was_same_as": artist.same_as_id}, ip)
    artist.same_as_id = None
    db.session.commit()
    return True


@dataclass
class ArtistRow:
    artist: Artist
    albums: int = 0
    packs: list[Pack] = field(default_factory=list)
    owed: list[tuple[str, int]] = field(default_factory=list)


def artist_rows() -> list[ArtistRow]:
    """Every artist with their album count, packs and what they are owed now per currency
    (three queries, whatever the number of artists)."""
    rows = {a.id: ArtistRow(a) for a in db.session.scalars(select(Artist).order_by(Artist.name_key, Artist.id))}
    packs_of: dict[int, dict[int, Pack]] = defaultdict(dict)
    for artist_id, pack in db.session.execute(
            select(Album.artist_id, Pack).join(Pack, Pack.id == Album.pack_id).order_by(Pack.starts_at.desc())
    ).tuples():
        if artist_id in rows:
            rows[artist_id].albums += 1
            packs_of[artist_id].setdefault(pack.id, pack)
    for artist_id, packs in packs_of.items():
        rows[artist_id].packs = list(packs.values())
    for (artist_id, currency), cents in sorted(balances().items()):
        if artist_id in rows:
            rows[artist_id].owed.append((currency, cents))
    return list(rows.values())
