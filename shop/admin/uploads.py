"""Album masters uploaded from the browser: into a temporary folder, checked, then imported.

One upload is one album: its files (masters and a cover) or one zip of them. The request
body is streamed to files in a fresh temporary folder (:mod:`shop.admin.multipart`);
nothing is held whole in memory. A zip is unpacked member by member,
after refusing one with too many members, absolute or ``..`` paths, links, or more
uncompressed bytes than an upload may have.

The import runs here, in the request that received the files, with the catalog importer
(:func:`shop.catalog.importer.import_albums`): the files are on this web host's disk, and a
worker on another host could not read them. The importer stores the masters in the store's
storage, so the encoding that follows runs on any worker (queue ``encoding``).
"""

from __future__ import annotations

import lzma
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from shop.admin import audit
from shop.admin.models import Operator
from shop.admin.multipart import Received
from shop.catalog.covers import COVER_EXTENSIONS
from shop.catalog.importer import CatalogImportError, import_albums
from shop.catalog.jobs import enqueue_tracks
from shop.catalog.pack_settings import PackSettings
from shop.models import Pack

MAX_ZIP_MEMBERS = 1000
NAME_MAX = 200
#: Loose files an upload may hold: masters and a cover (the importer refuses lossy-only tracks by name).
ACCEPTED = (".flac", ".wav", ".aif", ".aiff", ".mp3", *COVER_EXTENSIONS)
COPY_CHUNK = 1024 * 1024
#: Compression methods Python's zipfile unpacks; others (Deflate64 from Windows' and 7-Zip's
#: large archives, PPMd, AES...) are refused by name before anything is unpacked.
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "Deflate", zipfile.ZIP_BZIP2: "BZIP2",
               zipfile.ZIP_LZMA: "LZMA"}
ZIP_METHOD_NAMES = {9: "Deflate64", 10: "PKWARE DCL Implode", 93: "Zstandard", 95: "XZ", 98: "PPMd",
                    99: "AES encryption"}


class UploadError(ValueError):
    """An upload refused before anything was imported; ``str(exc)`` says why."""


@contextmanager
def staging() -> Iterator[Path]:
    """A fresh temporary folder, removed afterwards whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="admin-upload-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def safe_name(name: str) -> str:
    """The last part of a browser's file name, or UploadError for one that cannot be a file's."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", "..") or base.startswith(".") or "\x00" in base or len(base) > NAME_MAX:
        raise UploadError(f"{name!r} is not a usable file name")
    return base


def lay_out(received: Received, max_bytes: int) -> Path:
    """Put the upload's files where the importer reads an album: loose files in one folder,
    a zip unpacked. Returns the folder to import.

    :raises UploadError: no files, a mix of a zip and files, several zips, a file type the
        importer does not read, or a zip refused by :func:`unpack`.
    """
    if not received.files:
        raise UploadError("no files were sent: choose the album's masters and cover, or one zip")
    album = received.folder / "album"
    album.mkdir()
    zips = [(n, p) for n, p in received.files if n.lower().endswith(".zip")]
    if zips:
        if len(received.files) > 1:
            raise UploadError("send one zip per album, or the album's files without a zip")
        unpack(zips[0][1], album, max_bytes)
        return album
    for name, path in received.files:
        base = safe_name(name)
        if not base.lower().endswith(ACCEPTED):
            raise UploadError(f"{base}: not a master (FLAC, WAV, AIFF) or a cover (JPEG, PNG)")
        target = album / base
        if target.exists():
            raise UploadError(f"{base} was sent twice")
        path.rename(target)
    return album


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, None for what is skipped (folders, macOS metadata), or UploadError."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(f"the zip member {info.filename!r} has an absolute path")
    path = PurePosixPath(name)
    if any(part == ".." for part in path.parts):
        raise UploadError(f"the zip member {info.filename!r} points outside the album")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError(f"the zip member {info.filename!r} is a link")
    if info.is_dir() or not path.parts or path.parts[0] == "__MACOSX" or \
            any(part.startswith(".") for part in path.parts):
        return None
    if any(len(part) > NAME_MAX for part in path.parts) or "\x00" in name:
        raise UploadError(f"the zip member {info.filename!r} has an unusable name")
    if info.flag_bits & 0x1:
        raise UploadError(f"the zip member {info.filename!r} is encrypted; send a zip without a password")
    if info.compress_type not in ZIP_METHODS:
        method = ZIP_METHOD_NAMES.get(info.compress_type, "unknown")
        raise UploadError(
            f"the zip member {info.filename!r} uses compression method {info.compress_type} ({method}), "
            "which the store cannot unpack; make the zip again with ordinary (Deflate) compression"
        )
    return path


def unpack(archive: Path, into: Path, max_bytes: int) -> None:
    """Unpack a zip member by member into ``into``.

    :raises UploadError: for a file that is no zip, more than :data:`MAX_ZIP_MEMBERS` members,
        a path outside ``into``, a link, an encrypted member, a compression method zipfile
        cannot unpack, a corrupt or truncated member, or more than ``max_bytes`` uncompressed.
    """
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise UploadError(f"the zip has {len(members)} members; at most {MAX_ZIP_MEMBERS} are accepted")
            planned = [(info, path) for info in members if (path := _member_path(info)) is not None]
            if sum(info.file_size for info, _ in planned) > max_bytes:
                raise UploadError("the zip unpacks to more than an upload may hold")
            root = into.resolve()
            for info, path in planned:
                target = into.joinpath(*path.parts)
                if not target.resolve().is_relative_to(root):
                    raise UploadError(f"the zip member {info.filename!r} points outside the album")
                target.parent.mkdir(parents=True, exist_ok=True)
                _extract(zipped, info, target)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"the zip cannot be read: {exc}") from None


def _extract(zipped: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """One member to ``target``; what a damaged member raises becomes an UploadError naming it."""
    member = repr(info.filename)
    try:
        # ZipExtFile stops at the member's declared size and checks its CRC.
        with zipped.open(info) as source, target.open("xb") as sink:
            shutil.copyfileobj(source, sink, COPY_CHUNK)
    except FileExistsError:
        raise UploadError(f"the zip holds {target.name} twice") from None
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError) as exc:
        raise UploadError(f"the zip member {member} is corrupt or truncated ({_reason(exc)})") from None
    except (RuntimeError, NotImplementedError) as exc:
        # zipfile's own refusals (encryption, a method) of what _member_path let through.
        raise UploadError(f"the zip member {member} cannot be unpacked ({_reason(exc)})") from None
    except OSError as exc:
        if exc.errno is not None:
            raise  # this host's disk, not the zip
        # bz2 says "Invalid data stream" with a bare OSError.
        raise UploadError(f"the zip member {member} is corrupt ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def without_server_paths(message: str, folder: Path) -> str:
    """``message`` with the upload's files named as in the upload, not by their place on this host.

    The importer names files by path; the operator knows them by their place in what they sent.
    """
    for root in dict.fromkeys((str(folder.resolve()), str(folder))):
        message = message.replace(root + "/", "").replace(root, "the upload")
    # Anything else in the temporary folder (the importer's scratch files): by its own name.
    scratch = re.escape(tempfile.gettempdir().rstrip("/") or "/tmp")
    return re.sub(scratch + r"/[^\s:'\"]*/", "", message)


@dataclass(frozen=True)
class UploadResult:
    albums: list[dict[str, Any]]
    summary: str
    notes: list[str]
    tracks_to_encode: int
    queue_unavailable: str | None

    def as_json(self) -> dict[str, Any]:
        return {"ok": True, "albums": self.albums, "summary": self.summary, "notes": self.notes,
                "tracks_to_encode": self.tracks_to_encode, "queue_unavailable": self.queue_unavailable}


def import_upload(pack: Pack, folder: Path, operator: Operator, ip: str | None) -> UploadResult:
    """Import the album(s) in ``folder`` into ``pack`` and queue their encoding; audited.

    :raises CatalogImportError: the importer's refusal (nothing was changed), also audited.
    """
    from shop.extensions import db

    slug, pack_id = pack.slug, pack.id
    try:
        report = import_albums(folder, PackSettings(slug=slug))
    except CatalogImportError as exc:
        message = without_server_paths(str(exc), folder)
        audit.record(operator, "pack.upload.refused", f"pack:{pack_id}", {"error": message[:1000]}, ip)
        db.session.commit()
        raise CatalogImportError(message) from None
    enqueued = enqueue_tracks(report.encode_track_ids) if report.encode_track_ids else None
    albums = [{"label": a.label, "status": a.status, "tracks_added": a.tracks_added,
               "tracks_unchanged": a.tracks_unchanged, "notes": a.notes} for a in report.albums]
    audit.record(operator, "pack.upload", f"pack:{pack_id}",
                 {"albums": [a["label"] for a in albums], "tracks_to_encode": len(report.encode_track_ids),
                  "summary": report.summary()}, ip)
    db.session.commit()
    return UploadResult(albums, report.summary(), report.notes, len(report.encode_track_ids),
                        enqueued.unavailable if enqueued else None)
