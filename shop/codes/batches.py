"""Making, listing, exporting and revoking batches of download codes. No request objects here.

A code is 12 characters from a 30-letter alphabet without look-alikes (no 0/O, 1/I/L, U/V
pairs to misread), shown in groups of four: ``ABCD-EFGH-JKMN``. That is 30**12, about 2**59
codes, drawn with :mod:`secrets`; with 10,000 live codes a guess wins about once in 5e13
tries, and ``/redeem`` is rate-limited per client.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, select, update

from shop.codes.models import CodeBatch, DownloadCode
from shop.crypto import get_token_box
from shop.extensions import db
from shop.models import Album, Pack, utcnow

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
GROUP = 4
MAX_BATCH = 10_000
#: What a typed code may hold besides the alphabet: spaces and hyphens between groups.
SEPARATORS = str.maketrans("", "", " -\t")


class BatchError(ValueError):
    """A batch that cannot be made as asked; the message says why."""


def new_code() -> str:
    """A fresh code in its shown form, ``XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i:i + GROUP] for i in range(0, LENGTH, GROUP))


def normalize_code(typed: str) -> str | None:
    """The code's canonical form (upper case, no separators), or None when it cannot be one."""
    compact = typed.strip().upper().translate(SEPARATORS)
    if len(compact) != LENGTH or any(ch not in ALPHABET for ch in compact):
        return None
    return compact


def hash_code(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def create_batch(pack: Pack, size: int, *, album: Album | None = None, label: str = "",
                 created_by: str = "") -> CodeBatch:
    """A batch of ``size`` fresh codes for ``pack``, or for one ``album`` of it (its orders then
    hold that album only), flushed, not committed.

    :raises BatchError: for a size outside 1..:data:`MAX_BATCH`, or an album of another pack.
    """
    if not 1 <= size <= MAX_BATCH:
        raise BatchError(f"A batch holds 1 to {MAX_BATCH:,} codes.")
    if album is not None and album.pack_id != pack.id:
        raise BatchError("That album is not in this pack.")
    batch = CodeBatch(pack=pack, album=album, size=size, label=label.strip()[:120], created_by=created_by[:254])
    db.session.add(batch)
    db.session.flush()
    box = get_token_box()
    codes: set[str] = set()
    while len(codes) < size:  # a repeat within the batch is astronomically rare, but cheap to rule out
        codes.add(new_code())
    rows = [{"batch_id": batch.id, "code_hash": hash_code(code.replace("-", "")), "code_enc": box.encrypt(code)}
            for code in codes]
    # One executemany: 10,000 codes in a few round trips rather than 10,000 ORM objects.
    db.session.execute(insert(DownloadCode), rows)
    return batch


@dataclass(frozen=True)
class BatchSummary:
    batch: CodeBatch
    redeemed: int
    revoked: int

    @property
    def live(self) -> int:
        return 0 if self.batch.revoked_at else self.batch.size - self.redeemed - self.revoked


def summaries(pack_id: int | None = None) -> list[BatchSummary]:
    """Every batch (of one pack, or all), newest first, with its redeemed and revoked counts."""
    redeemed = func.count(DownloadCode.redeemed_at)
    revoked = func.count(DownloadCode.revoked_at)
    query = (select(CodeBatch, redeemed, revoked).join(DownloadCode, DownloadCode.batch_id == CodeBatch.id)
             .group_by(CodeBatch.id).order_by(CodeBatch.id.desc()))
    if pack_id is not None:
        query = query.where(CodeBatch.pack_id == pack_id)
    return [BatchSummary(batch, int(r), int(v)) for batch, r, v in db.session.execute(query).tuples()]


def export_rows(batch: CodeBatch) -> Iterator[str]:
    """The batch as CSV lines: code, status, when redeemed (no buyer addresses)."""
    box = get_token_box()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "pack", "album", "status", "redeemed_at"])
    yield out.getvalue()
    out.seek(0)
    out.truncate()
    album = f"{batch.album.artist} - {batch.album.title}" if batch.album else ""
    rows = db.session.execute(
        select(DownloadCode.code_enc, DownloadCode.redeemed_at, DownloadCode.revoked_at)
        .where(DownloadCode.batch_id == batch.id).order_by(DownloadCode.id))
    for code_enc, redeemed_at, revoked_at in rows:
        status = "redeemed" if redeemed_at else "revoked" if revoked_at or batch.revoked_at else "live"
        writer.writerow([box.decrypt(code_enc), batch.pack.slug, album, status,
                         redeemed_at.isoformat() if redeemed_at else ""])
        yield out.getvalue()
        out.seek(0)
        out.truncate()


def revoke_batch(batch: CodeBatch) -> bool:
    """Stop every unredeemed code of the batch (redeemed ones keep their orders); True if this
    call revoked it. The caller commits."""
    if batch.revoked_at is not None:
        return False
    batch.revoked_at = utcnow()
    return True


def revoke_code(typed: str) -> DownloadCode | None:
    """Revoke one unredeemed code given as typed; the code, or None when no live code matches.
    The caller commits."""
    canonical = normalize_code(typed)
    if canonical is None:
        return None
    code = db.session.scalar(select(DownloadCode).where(DownloadCode.code_hash == hash_code(canonical)))
    if code is None:
        return None
    result = cast(CursorResult[Any], db.session.execute(
        update(DownloadCode)
        .where(DownloadCode.id == code.id, DownloadCode.redeemed_at.is_(None), DownloadCode.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False)))
    if result.rowcount != 1:
        return None
    db.session.refresh(code)
    return code
