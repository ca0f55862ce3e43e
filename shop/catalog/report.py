"""What an import did, per album and overall, for the operator (``flask catalog import``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AlbumResult:
    artist: str
    title: str
    status: str = "unchanged"  # "added", "extended" or "unchanged"
    tracks_added: int = 0
    tracks_unchanged: int = 0
    masters_added: int = 0
    masters_unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.artist} \u2014 {self.title}"


@dataclass
class ImportReport:
    slug: str
    pack_created: bool = False
    albums: list[AlbumResult] = field(default_factory=list)
    blobs_written: int = 0
    notes: list[str] = field(default_factory=list)
    #: Tracks given new encodes by this import (their buyer files are still to be made).
    encode_track_ids: list[int] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for a in self.albums if a.status == status)

    @property
    def tracks_added(self) -> int:
        return sum(a.tracks_added for a in self.albums)

    @property
    def tracks_unchanged(self) -> int:
        return sum(a.tracks_unchanged for a in self.albums)

    @property
    def masters_added(self) -> int:
        return sum(a.masters_added for a in self.albums)

    @property
    def masters_unchanged(self) -> int:
        return sum(a.masters_unchanged for a in self.albums)

    @property
    def changed(self) -> bool:
        return self.pack_created or self.blobs_written > 0 or any(a.status != "unchanged" for a in self.albums)

    def summary(self) -> str:
        if not self.changed:
            return (
                f"Nothing changed: pack {self.slug!r} already holds all {len(self.albums)} album(s), "
                f"{self.tracks_unchanged} tracks and their masters."
            )
        return (
            f"Pack {self.slug!r} {'created' if self.pack_created else 'updated'}: "
            f"albums {self.count('added')} added, {self.count('extended')} extended, "
            f"{self.count('unchanged')} unchanged; "
            f"tracks {self.tracks_added} added, {self.tracks_unchanged} unchanged; "
            f"masters {self.masters_added} added, {self.masters_unchanged} unchanged; "
            f"{self.blobs_written} blob(s) copied into storage."
        )
