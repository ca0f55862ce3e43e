"""The zip layout, checked by independent readers: zipfile, unzip, 7z, bsdtar."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shop.downloads.streaming import ByteSource
from shop.downloads.ziplayout import (
    FLAG_UTF8,
    MAX_16,
    MAX_32,
    Member,
    build_layout,
    dos_datetime,
)
from tests.downloads.conftest import MemoryStorage, check_zip_everywhere, need_tool, run_tool

WHEN = datetime(2026, 5, 17, 13, 45, 31, tzinfo=UTC)


def blob_member(name: str, data: bytes, storage: MemoryStorage) -> Member:
    key = f"blob/{hashlib.sha256(data).hexdigest()}"
    storage.blobs[key] = data
    return Member(name=name, size=len(data), crc32=zlib.crc32(data),
                  sha256=hashlib.sha256(data).hexdigest(), key=key)


def render(members: list[Member], storage: MemoryStorage) -> bytes:
    layout = build_layout(members, WHEN)
    data = b"".join(ByteSource(layout.segments).iter_range(storage, 0, layout.size))
    assert len(data) == layout.size
    return data


@pytest.fixture
def sample() -> tuple[list[Member], MemoryStorage]:
    storage = MemoryStorage()
    rng = random.Random(4)
    members = [
        blob_member("Artïst - Album (FLAC)/01 Ωne.flac", rng.randbytes(5000), storage),
        blob_member("Artïst - Album (FLAC)/02 東京.flac", rng.randbytes(1), storage),
        blob_member("Artïst - Album (FLAC)/03 Empty.flac", b"", storage),
        Member.generated("Artïst - Album (FLAC)/SHA256SUMS", b"abc  01 \xce\xa9ne.flac\n"),
    ]
    return members, storage


def test_python_reads_every_member_back(sample) -> None:
    members, storage = sample
    data = render(members, storage)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [i.filename for i in infos] == [m.name for m in members]
        for info, member in zip(infos, members, strict=True):
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits & FLAG_UTF8
            assert not info.flag_bits & 0x08  # no data descriptor
            assert info.date_time == (2026, 5, 17, 13, 45, 30)
            expected = member.content if member.content is not None else storage.blobs[member.key]
            assert archive.read(info) == expected


def test_independent_tools_accept_it(sample, tmp_path: Path) -> None:
    members, storage = sample
    names = check_zip_everywhere(render(members, storage), tmp_path)
    assert names == [m.name for m in members]


def test_same_members_same_bytes_and_digest(sample) -> None:
    members, storage = sample
    assert render(members, storage) == render(list(members), storage)
    assert build_layout(members, WHEN).digest == build_layout(members, WHEN).digest
    renamed = [*members[:-1], Member.generated("other/SHA256SUMS", members[-1].content or b"")]
    assert build_layout(renamed, WHEN).digest != build_layout(members, WHEN).digest
    assert build_layout(members, WHEN.replace(year=2027)).digest != build_layout(members, WHEN).digest


def test_exact_size_is_known_up_front(sample) -> None:
    members, storage = sample
    layout = build_layout(members, WHEN)
    names = sum(len(m.name.encode()) for m in members)
    data = sum(m.size for m in members)
    assert layout.size == len(members) * (30 + 46) + 2 * names + data + 22
    assert not layout.zip64


def test_duplicate_names_are_refused(sample) -> None:
    members, _ = sample
    with pytest.raises(ValueError, match="duplicate"):
        build_layout([members[0], members[0]], WHEN)


def test_dos_datetime_clamps_to_its_range() -> None:
    assert dos_datetime(datetime(1970, 1, 1)) == (0, (1 << 5) | 1)
    time, date = dos_datetime(datetime(2200, 6, 1))
    assert date >> 9 == 2107 - 1980


def test_every_range_equals_the_slice_and_reads_only_what_it_sends(sample) -> None:
    members, storage = sample
    full = render(members, storage)
    source = ByteSource(build_layout(members, WHEN).segments)
    boundaries = sorted({s.offset for s in source.segments} | {source.size})
    points = {0, source.size - 1}
    for b in boundaries:
        points |= {max(b - 1, 0), b, min(b + 1, source.size - 1)}
    points = {p for p in points if 0 <= p < source.size}
    rng = random.Random(1)
    ranges = [(a, b) for a in points for b in points if a <= b]
    ranges += [tuple(sorted(rng.sample(range(source.size), 2))) for _ in range(500)]
    for first, last in ranges:
        storage.reads.clear()
        got = b"".join(source.iter_range(storage, first, last - first + 1, chunk_size=777))
        assert got == full[first:last + 1], (first, last)
        assert storage.bytes_read <= last - first + 1


def test_zip64_for_more_than_65535_entries(tmp_path: Path) -> None:
    storage = MemoryStorage()
    members = [Member.generated(f"many/{i:05d}.txt", str(i).encode()) for i in range(MAX_16 + 5)]
    layout = build_layout(members, WHEN)
    assert layout.zip64 and layout.entries == MAX_16 + 5
    data = render(members, storage)
    # The classic end record says "see ZIP64"; the ZIP64 record has the real count.
    assert struct.unpack("<H", data[-22 + 10:-22 + 12])[0] == MAX_16
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        assert len(infos) == MAX_16 + 5
        assert archive.read(infos[-1]) == str(MAX_16 + 4).encode()
    path = tmp_path / "many.zip"
    path.write_bytes(data)
    listing = run_tool(need_tool("unzip"), "-l", path)
    assert f"{MAX_16 + 5} files" in listing
    assert "Everything is Ok" in run_tool(need_tool("7z"), "t", path)
    assert len(run_tool(need_tool("bsdtar"), "-tf", path).splitlines()) == MAX_16 + 5


def write_sparse(members: list[Member], path: Path) -> int:
    """Write the archive with blob data left as holes: a multi-GiB zip in kilobytes."""
    layout = build_layout(members, WHEN)
    with open(path, "wb") as out:
        for segment in layout.segments:
            if segment.data is not None:
                out.seek(segment.offset)
                out.write(segment.data)
        out.truncate(layout.size)
    return layout.size


def test_zip64_for_a_member_past_4_gib(tmp_path: Path) -> None:
    big = 5 * 1024**3 + 123
    after = b"the member after the big one"
    members = [
        Member(name="big/huge.wav", size=big, crc32=0, sha256="0" * 64, key=f"zeros/{big}"),
        Member.generated("big/after.txt", after),
    ]
    layout = build_layout(members, WHEN)
    assert layout.zip64 and layout.size > MAX_32
    path = tmp_path / "big.zip"
    assert write_sparse(members, path) == layout.size
    with zipfile.ZipFile(path) as archive:
        huge, small = archive.infolist()
        assert huge.file_size == huge.compress_size == big
        assert small.header_offset > MAX_32
        assert archive.read(small) == after  # found through the ZIP64 offset, CRC checked
    listing = run_tool(need_tool("unzip"), "-l", path)
    assert str(big) in listing and "big/after.txt" in listing
    assert "No errors detected" in run_tool(need_tool("unzip"), "-t", path, "big/after.txt")
    seven = run_tool(need_tool("7z"), "l", "-slt", path)
    assert f"Size = {big}" in seven and "Path = big/after.txt" in seven
    assert "Everything is Ok" in run_tool(need_tool("7z"), "t", path, "big/after.txt")

    # The tail served through ByteSource equals the file, and only tail bytes are read.
    storage = MemoryStorage()
    source = ByteSource(layout.segments)
    tail_start = layout.size - 4096
    tail = b"".join(source.iter_range(storage, tail_start, 4096))
    with open(path, "rb") as fh:
        fh.seek(tail_start)
        assert tail == fh.read()
    data_start = layout.segments[1].offset
    zeros_in_tail = data_start + big - tail_start
    assert storage.reads == [(f"zeros/{big}", big - zeros_in_tail, zeros_in_tail)]
    storage.reads.clear()
    inside = b"".join(source.iter_range(storage, MAX_32 + 10, 100))
    assert inside == bytes(100)
    assert storage.reads == [(f"zeros/{big}", MAX_32 + 10 - data_start, 100)]
