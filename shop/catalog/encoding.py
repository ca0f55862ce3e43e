"""Every buyer format, and the preview clip, encoded from one lossless master.

A master is a FLAC, WAV or AIFF file, 16 or 24 bit, 44.1 to 96 kHz, mono or stereo.
:func:`probe_master` accepts or refuses one (with a message naming the file);
:func:`encode` makes one buyer format of it (see :mod:`shop.formats`), tagged and
with its cover; :func:`encode_all` makes several after one probe; :func:`make_preview` makes
the short MP3 clip the pack page plays.

Plain functions over paths, with no Flask and no database, so an RQ job, a CLI command or a
benchmark can call them. Audio is encoded by PyAV (the FFmpeg libraries inside its wheel);
tags and covers are written afterwards by mutagen, in the tag system players of each format
read. Memory stays bounded: frames are decoded, converted and encoded one at a time.

Outputs are deterministic: the same master, tags and cover give byte-identical files, so a
re-encode lands on the same content-addressed storage key (``hashing.storage_key``) and a
re-run job changes nothing. That takes FFmpeg's ``bitexact`` flags on the muxer and the
encoder (no ``Lavf``/``Lavc`` version strings, no ``creation_time``, fixed Ogg serial
numbers), muxers told not to write tags mutagen rewrites anyway, and a fixed amount of
mutagen padding. Identity holds for one build of the libraries on one kind of CPU: the AAC
and Opus encoders compute in floating point with CPU-specific SIMD, so another machine or
another PyAV wheel may produce different (equally valid) bytes.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.codec.context import Flags as CodecFlags
from av.container import InputContainer, OutputContainer
from mutagen import MutagenError
from mutagen.aiff import AIFF
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TRCK
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from shop.catalog.hashing import Digests, digest_file
from shop.catalog.tags import FRONT_COVER, AudioTags
from shop.formats import BuyerFormat, get_format

SUPPORTED_RATES: tuple[int, ...] = (44100, 48000, 88200, 96000)
SUPPORTED_BIT_DEPTHS: tuple[int, ...] = (16, 24)
SUPPORTED_CHANNELS: tuple[int, ...] = (1, 2)

#: FFmpeg demuxer name → what the operator calls it.
MASTER_CONTAINERS: dict[str, str] = {"flac": "FLAC", "wav": "WAV", "aiff": "AIFF"}
#: Decoders of lossless audio a master may hold, and the bit depth the codec implies.
_LOSSLESS_CODECS: dict[str, int | None] = {
    "flac": None,  # 16, 20 or 24: read from STREAMINFO
    "pcm_s16le": 16,
    "pcm_s16be": 16,
    "pcm_s24le": 24,
    "pcm_s24be": 24,
    "pcm_s32le": 32,
    "pcm_s32be": 32,
    "pcm_u8": 8,
    "pcm_f32le": 32,
    "pcm_f32be": 32,
    "pcm_f64le": 64,
    "pcm_f64be": 64,
}
_LOSSY_CODECS: dict[str, str] = {
    "mp3": "MP3",
    "mp3float": "MP3",
    "mp2": "MP2",
    "aac": "AAC",
    "aac_latm": "AAC",
    "opus": "Opus",
    "libopus": "Opus",
    "vorbis": "Vorbis",
    "libvorbis": "Vorbis",
    "wmav2": "WMA",
    "ac3": "AC-3",
    "eac3": "E-AC-3",
    "adpcm_ms": "ADPCM",
    "adpcm_ima_wav": "ADPCM",
    "pcm_alaw": "A-law",
    "pcm_mulaw": "µ-law",
}
_FLOAT_PCM = frozenset({"pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be"})

#: Preview clip: length, where it starts, fades, and its MP3 bitrate.
PREVIEW_SECONDS = 30.0
PREVIEW_START = 0.25
PREVIEW_FADE_IN = 1.0
PREVIEW_FADE_OUT = 2.0
PREVIEW_BIT_RATE = 128_000

# A constant, so the same tags always give the same bytes, and large enough that a later
# retag (a corrected title) usually fits without rewriting the whole file.
TAG_PADDING = 2048

_BITEXACT = {"fflags": "+bitexact"}


class MasterError(Exception):
    """A master the store cannot encode from: lossy, unsupported, corrupt or unreadable.

    The message names the file and says what is wrong, for the operator.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class MasterInfo:
    """What a master is. ``frames`` counts samples per channel."""

    path: Path
    container: str
    codec: str
    sample_rate: int
    bit_depth: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frames / self.sample_rate

    @property
    def duration_ms(self) -> int:
        return round(self.frames * 1000 / self.sample_rate)


@dataclass(frozen=True)
class TrackTags:
    """The tags every encoded file carries. ``number``/``total`` are the track's position."""

    title: str
    artist: str
    album: str
    album_artist: str | None = None
    number: int | None = None
    total: int | None = None
    year: int | None = None
    genre: str | None = None

    @classmethod
    def from_audio_tags(cls, tags: AudioTags, total: int | None = None) -> TrackTags:
        """Tags read from a file by :func:`shop.catalog.tags.read_tags`, with fallbacks.

        Missing title, artist or album become the file name, ``"Unknown Artist"`` and
        ``"Unknown Album"``; the importer usually knows better and builds ``TrackTags``
        itself.
        """
        return cls(
            title=tags.title or tags.path.stem,
            artist=tags.artist or tags.album_artist or "Unknown Artist",
            album=tags.album or "Unknown Album",
            album_artist=tags.album_artist,
            number=tags.number,
            total=total,
            year=tags.year,
            genre=tags.genre,
        )


@dataclass(frozen=True)
class EncodedFile:
    """One encoded buyer file, with the checksums downloads and Dropbox need."""

    path: Path
    format: BuyerFormat
    digests: Digests
    sample_rate: int
    channels: int
    #: Bits per sample of a lossless file; ``None`` for lossy formats.
    bit_depth: int | None
    #: The master's duration; encoder priming and padding are trimmed by players.
    duration_ms: int

    @property
    def size(self) -> int:
        return self.digests.size


@dataclass(frozen=True)
class PreviewInfo:
    """The preview clip: where in the track it comes from, and how long it is."""

    path: Path
    digests: Digests
    start_ms: int
    duration_ms: int
    track_duration_ms: int

    @property
    def size(self) -> int:
        return self.digests.size


# ---------------------------------------------------------------------------- masters


def probe_master(path: Path) -> MasterInfo:
    """Check that ``path`` is a master the store can encode from, and describe it.

    Reads the headers, then decodes the whole file once (streaming) to count its frames
    exactly and to find corruption before any buyer file is made.

    :raises MasterError: for a lossy file (MP3, AAC, Opus, Vorbis...), an unsupported
        container, bit depth, sample rate or channel count, a corrupt or truncated file,
        or one that cannot be opened. The message names the file.
    """
    header = _read_header(path)
    frames = 0
    with _open_input(path) as container:
        stream = container.streams.audio[0]
        for frame in _decode(container, stream, path):
            frames += frame.samples
    if frames == 0:
        raise MasterError(path, "no audio frames")
    # FLAC's STREAMINFO and the WAV/AIFF chunk headers declare the length: fewer decodable
    # frames means a truncated upload or a damaged file.
    if header.frames and frames < header.frames:
        raise MasterError(path, f"truncated or corrupt: {header.frames} frames declared, {frames} decodable")
    return MasterInfo(
        path=path,
        container=header.container,
        codec=header.codec,
        sample_rate=header.sample_rate,
        bit_depth=header.bit_depth,
        channels=header.channels,
        frames=frames,
    )


def _read_header(path: Path) -> MasterInfo:
    """The master's format from its headers only (``frames`` as declared, maybe 0)."""
    with _open_input(path) as container:
        if not container.streams.audio:
            raise MasterError(path, "no audio stream")
        stream = container.streams.audio[0]
        context = stream.codec_context
        if context is None:
            # FFmpeg found no decoder for what the header declares (a WAV format tag it does
            # not know, 0 bits per sample, ...), so there is no codec to describe.
            raise MasterError(path, "the header declares no audio codec the store can decode "
                                    "(unknown format tag or 0 bits per sample); export it again as "
                                    "16 or 24 bit PCM")
        codec = context.name
        demuxer = container.format.name
        rate = context.sample_rate
        channels = context.channels
    if codec in _LOSSY_CODECS:
        raise MasterError(path, f"{_LOSSY_CODECS[codec]} is lossy; a master must be lossless FLAC, WAV or AIFF")
    if codec not in _LOSSLESS_CODECS:
        raise MasterError(path, f"{codec} audio is not accepted; a master must be FLAC, WAV or AIFF (PCM)")
    if demuxer not in MASTER_CONTAINERS:
        raise MasterError(path, f"container {demuxer!r} is not accepted; a master must be FLAC, WAV or AIFF")
    if codec in _FLOAT_PCM:
        raise MasterError(path, "floating-point PCM is not accepted; export 16 or 24 bit integer PCM")
    header_bits, declared = _declared_format(path, demuxer)
    bit_depth = _LOSSLESS_CODECS[codec] or header_bits
    if bit_depth not in SUPPORTED_BIT_DEPTHS:
        raise MasterError(path, f"{bit_depth}-bit audio is not accepted; a master must be 16 or 24 bit")
    if rate not in SUPPORTED_RATES:
        rates = ", ".join(f"{r / 1000:g}" for r in SUPPORTED_RATES)
        raise MasterError(path, f"sample rate {rate} Hz is not accepted; use {rates} kHz")
    if channels not in SUPPORTED_CHANNELS:
        raise MasterError(path, f"{channels} channels are not accepted; a master must be mono or stereo")
    return MasterInfo(
        path=path,
        container=demuxer,
        codec=codec,
        sample_rate=rate,
        bit_depth=bit_depth,
        channels=channels,
        frames=declared,
    )


def _declared_format(path: Path, demuxer: str) -> tuple[int, int]:
    """Bits per sample and frames as the headers declare them (mutagen reads them).

    PyAV decodes 20- and 24-bit FLAC alike to s32 without exposing
    ``bits_per_raw_sample``, and derives a WAV's length from the file size, so a truncated
    upload would look whole; STREAMINFO and the chunk headers have the truth.
    """
    reader = {"flac": FLAC, "wav": WAVE, "aiff": AIFF}[demuxer]
    try:
        info = reader(path).info
    except (MutagenError, OSError, EOFError, ValueError) as exc:
        raise MasterError(path, f"unreadable {MASTER_CONTAINERS[demuxer]} header ({exc})") from exc
    frames = round(info.length * info.sample_rate) if info.sample_rate else 0
    return int(info.bits_per_sample), frames


@contextmanager
def _open_input(path: Path) -> Iterator[InputContainer]:
    """``av.open`` for reading, with its errors as :class:`MasterError`."""
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MasterError(path, f"cannot be opened as audio ({_reason(exc)})") from exc
    try:
        yield container
    finally:
        container.close()


def _decode(container: InputContainer, stream: AudioStream, path: Path) -> Iterator[AudioFrame]:
    """The master's frames, one at a time; decoding errors become :class:`MasterError`."""
    try:
        for packet in container.demux(stream):
            yield from stream.decode(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise MasterError(path, f"corrupt audio ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc) or type(exc).__name__


# ---------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class EncoderSettings:
    """How one buyer format is made: FFmpeg muxer, encoder, and the encoder's settings."""

    muxer: str
    codec: str
    rate: int
    sample_format: str | None = None
    bit_rate: int | None = None
    #: LAME's ``-V`` quality (FFmpeg's ``-q:a``); ``None`` for a bitrate-driven encoder.
    vbr_quality: int | None = None
    bits_per_raw_sample: int | None = None
    muxer_options: dict[str, str] = field(default_factory=dict)
    codec_options: dict[str, str] = field(default_factory=dict)


def _lossy_rate(master: MasterInfo) -> int:
    # MP3 stops at 48 kHz and nobody hears above it in AAC: 88.2/96 kHz masters go down
    # to the rate of their own family, which resamples by a simple ratio.
    return 44100 if master.sample_rate % 44100 == 0 else 48000


def encoder_settings(format_id: str, master: MasterInfo) -> EncoderSettings:
    """The exact FFmpeg settings for one buyer format of ``master`` (also used by the bench)."""
    fmt = get_format(format_id)
    wide = master.bit_depth > 16
    # 24-bit samples travel in the top bits of s32; the encoder is told how many are real.
    pcm_format = "s32" if wide else "s16"
    raw_bits = 24 if wide else None
    no_id3 = {"id3v2_version": "0"}  # mutagen writes the ID3v2.4 tag
    match fmt.id:
        case "mp3-v0":
            return EncoderSettings("mp3", "libmp3lame", _lossy_rate(master), vbr_quality=0, muxer_options=no_id3)
        case "mp3-320":
            return EncoderSettings("mp3", "libmp3lame", _lossy_rate(master), bit_rate=320_000, muxer_options=no_id3)
        case "aac":
            return EncoderSettings("ipod", "aac", _lossy_rate(master), bit_rate=256_000)
        case "opus":
            return EncoderSettings("opus", "libopus", 48000, bit_rate=160_000)
        case "flac":
            return EncoderSettings("flac", "flac", master.sample_rate, pcm_format, bits_per_raw_sample=raw_bits)
        case "alac":
            planar = pcm_format + "p"
            return EncoderSettings("ipod", "alac", master.sample_rate, planar, bits_per_raw_sample=raw_bits)
        case "wav":
            return EncoderSettings("wav", "pcm_s24le" if wide else "pcm_s16le", master.sample_rate, pcm_format)
        case "aiff":
            return EncoderSettings("aiff", "pcm_s24be" if wide else "pcm_s16be", master.sample_rate, pcm_format)
    raise AssertionError(f"no encoder settings for {fmt.id}")  # pragma: no cover


def encode(
    master_path: Path,
    fmt: str,
    out_path: Path,
    tags: TrackTags,
    cover: bytes | None,
    *,
    master: MasterInfo | None = None,
) -> EncodedFile:
    """Encode one buyer format of a master to ``out_path``, tagged, with its cover.

    The file appears at ``out_path`` only when complete (written beside it, then renamed).

    :param fmt: a format id or old alias (see :mod:`shop.formats`).
    :param cover: PNG or JPEG bytes for the front cover, or ``None``.
    :param master: the master's :func:`probe_master` result, to skip reading its headers
        again. Without it only the headers are checked before encoding; a corrupt or
        truncated master is still refused, when decoding falls short, and nothing is left
        at ``out_path``.
    :raises MasterError: when the master is refused or turns out corrupt.
    :raises KeyError: for an unknown format id.
    :raises ValueError: when ``cover`` is neither PNG nor JPEG.
    """
    buyer_format = get_format(fmt)
    cover_mime = _image_mime(cover) if cover is not None else None
    info = master or _read_header(master_path)
    settings = encoder_settings(buyer_format.id, info)
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    try:
        with _open_input(master_path) as source:
            stream = source.streams.audio[0]
            frames = _transcode(source, stream, master_path, partial, settings)
        if frames < info.frames:
            raise MasterError(master_path, f"truncated or corrupt: {info.frames} frames declared, {frames} decodable")
        _TAG_WRITERS[buyer_format.id](partial, tags, cover, cover_mime)
        digests = digest_file(partial)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return EncodedFile(
        path=out_path,
        format=buyer_format,
        digests=digests,
        sample_rate=settings.rate,
        channels=info.channels,
        bit_depth=info.bit_depth if buyer_format.lossless else None,
        duration_ms=info.duration_ms,
    )


def encode_all(
    master_path: Path,
    outputs: Mapping[str, Path],
    tags: TrackTags,
    cover: bytes | None,
) -> dict[str, EncodedFile]:
    """Probe the master once, then encode each ``format id → path`` in ``outputs``.

    :raises MasterError: before anything is written, when the master is refused.
    """
    master = probe_master(master_path)
    return {fmt: encode(master_path, fmt, path, tags, cover, master=master) for fmt, path in outputs.items()}


def _open_output(path: Path, muxer: str, options: Mapping[str, str]) -> OutputContainer:
    return av.open(str(path), mode="w", format=muxer, container_options={**_BITEXACT, **options})


def _add_audio_stream(
    output: OutputContainer,
    codec: str,
    rate: int,
    layout: str,
    options: Mapping[str, str],
) -> AudioStream:
    stream = output.add_stream(codec, rate=rate, options=dict(options))
    if not isinstance(stream, AudioStream):  # pragma: no cover - every codec used is audio
        raise TypeError(f"{codec} is not an audio encoder")
    stream.codec_context.layout = layout
    stream.codec_context.flags |= CodecFlags.bitexact
    return stream


def _layout_name(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _transcode(
    source: InputContainer, stream: AudioStream, master_path: Path, out: Path, settings: EncoderSettings
) -> int:
    """Decode the master into the encoder; returns the number of frames decoded."""
    codec_options = dict(settings.codec_options)
    if settings.bits_per_raw_sample:
        codec_options["bits_per_raw_sample"] = str(settings.bits_per_raw_sample)
    output = _open_output(out, settings.muxer, settings.muxer_options)
    try:
        target = _add_audio_stream(
            output, settings.codec, settings.rate, _layout_name(stream.codec_context.channels), codec_options
        )
        context = target.codec_context
        if settings.sample_format:
            context.format = settings.sample_format
        if settings.bit_rate:
            context.bit_rate = settings.bit_rate
        if settings.vbr_quality is not None:
            # What `ffmpeg -q:a N` does: the qscale flag and N lambda units of quality.
            context.qscale = True
            context.global_quality = settings.vbr_quality * _QP2LAMBDA
        # The decoded frames keep their timestamps, so the muxer learns the encoder's
        # priming delay (MP4 edit list, Ogg pre-skip, LAME gapless header) and players
        # trim it: the file plays exactly the master's length.
        frames = 0
        for frame in _decode(source, stream, master_path):
            frames += frame.samples
            output.mux(target.encode(frame))
        output.mux(target.encode(None))
    finally:
        output.close()
    return frames


_QP2LAMBDA = 118  # FF_QP2LAMBDA in libavutil/avutil.h


# ---------------------------------------------------------------------------- tags


def _image_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    raise ValueError("cover must be PNG or JPEG")


def _padding(_info: object) -> int:
    return TAG_PADDING


def _id3_frames(tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> ID3:
    frames = ID3()
    frames.add(TIT2(encoding=3, text=tags.title))
    frames.add(TPE1(encoding=3, text=tags.artist))
    frames.add(TALB(encoding=3, text=tags.album))
    if tags.album_artist:
        frames.add(TPE2(encoding=3, text=tags.album_artist))
    if tags.number:
        frames.add(TRCK(encoding=3, text=f"{tags.number}/{tags.total}" if tags.total else str(tags.number)))
    if tags.year:
        frames.add(TDRC(encoding=3, text=str(tags.year)))
    if tags.genre:
        frames.add(TCON(encoding=3, text=tags.genre))
    if cover is not None and cover_mime is not None:
        frames.add(APIC(encoding=3, mime=cover_mime, type=FRONT_COVER, desc="", data=cover))
    return frames


def _tag_mp3(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    _id3_frames(tags, cover, cover_mime).save(path, v1=0, v2_version=4, padding=_padding)


def _tag_riff(audio: WAVE | AIFF, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    # The "id3 " (WAV) / "ID3 " (AIFF) chunk. ID3v2.3 rather than 2.4 here: Windows
    # Explorer and older iTunes read only 2.3 in these files.
    audio.add_tags()
    assert audio.tags is not None
    for frame in _id3_frames(tags, cover, cover_mime).values():
        audio.tags.add(frame)
    audio.save(v2_version=3, padding=_padding)


def _tag_wav(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    _tag_riff(WAVE(path), tags, cover, cover_mime)


def _tag_aiff(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    _tag_riff(AIFF(path), tags, cover, cover_mime)


def _tag_mp4(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    # Whatever the muxer wrote (an encoder "©too" atom without bitexact) goes.
    audio.tags.clear()
    audio.tags["\xa9nam"] = [tags.title]
    audio.tags["\xa9ART"] = [tags.artist]
    audio.tags["\xa9alb"] = [tags.album]
    if tags.album_artist:
        audio.tags["aART"] = [tags.album_artist]
    if tags.number:
        audio.tags["trkn"] = [(tags.number, tags.total or 0)]
    if tags.year:
        audio.tags["\xa9day"] = [str(tags.year)]
    if tags.genre:
        audio.tags["\xa9gen"] = [tags.genre]
    if cover is not None:
        image_format = MP4Cover.FORMAT_PNG if cover_mime == "image/png" else MP4Cover.FORMAT_JPEG
        audio.tags["covr"] = [MP4Cover(cover, imageformat=image_format)]
    audio.save(padding=_padding)


def _vorbis_comments(tags: TrackTags) -> dict[str, str]:
    comments = {"TITLE": tags.title, "ARTIST": tags.artist, "ALBUM": tags.album}
    if tags.album_artist:
        comments["ALBUMARTIST"] = tags.album_artist
    if tags.number:
        comments["TRACKNUMBER"] = str(tags.number)
    if tags.total:
        comments["TRACKTOTAL"] = str(tags.total)
    if tags.year:
        comments["DATE"] = str(tags.year)
    if tags.genre:
        comments["GENRE"] = tags.genre
    return comments


def _flac_picture(cover: bytes, cover_mime: str) -> Picture:
    picture = Picture()
    picture.type = FRONT_COVER
    picture.mime = cover_mime
    picture.desc = ""
    picture.data = cover
    return picture


def _tag_flac(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    audio = FLAC(path)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    audio.tags.clear()
    for key, value in _vorbis_comments(tags).items():
        audio.tags[key] = [value]
    audio.clear_pictures()
    if cover is not None and cover_mime is not None:
        audio.add_picture(_flac_picture(cover, cover_mime))
    audio.save(padding=_padding)


def _tag_opus(path: Path, tags: TrackTags, cover: bytes | None, cover_mime: str | None) -> None:
    audio = OggOpus(path)
    assert audio.tags is not None
    audio.tags.clear()
    for key, value in _vorbis_comments(tags).items():
        audio.tags[key] = [value]
    if cover is not None and cover_mime is not None:
        block = _flac_picture(cover, cover_mime).write()
        audio.tags["METADATA_BLOCK_PICTURE"] = [base64.b64encode(block).decode("ascii")]
    audio.save(padding=_padding)


_TAG_WRITERS = {
    "mp3-v0": _tag_mp3,
    "mp3-320": _tag_mp3,
    "aac": _tag_mp4,
    "opus": _tag_opus,
    "flac": _tag_flac,
    "alac": _tag_mp4,
    "wav": _tag_wav,
    "aiff": _tag_aiff,
}


# ---------------------------------------------------------------------------- previews


def preview_window(track_seconds: float) -> tuple[float, float]:
    """Where the preview starts and how long it lasts, in seconds.

    :data:`PREVIEW_SECONDS` from a quarter in; never more than half the track, and moved
    earlier when it would run past the end.
    """
    length = min(PREVIEW_SECONDS, track_seconds / 2)
    start = min(track_seconds * PREVIEW_START, track_seconds - length)
    return max(start, 0.0), length


def make_preview(master_path: Path, out_path: Path, *, master: MasterInfo | None = None) -> PreviewInfo:
    """Encode the preview clip of a master: about 30 s from 25 % in, faded, as MP3.

    128 kb/s CBR MP3 (mono masters stay mono) at 44.1 or 48 kHz, with a
    :data:`PREVIEW_FADE_IN` s fade in and a :data:`PREVIEW_FADE_OUT` s fade out (shorter
    for very short clips). Only the clip is decoded (after a seek), one frame at a time.

    :param master: the :func:`probe_master` result, when the caller has it (its exact
        duration places the clip); otherwise the headers' declared length is used.
    :raises MasterError: when the master is refused or corrupt.
    """
    info = master or _read_header(master_path)
    if info.frames <= 0:
        info = probe_master(master_path)
    start, length = preview_window(info.duration)
    rate = _lossy_rate(info)
    layout = _layout_name(info.channels)
    first = round(start * rate)
    count = round(length * rate)
    fade_in = max(1, round(min(PREVIEW_FADE_IN, length / 4) * rate))
    fade_out = max(1, round(min(PREVIEW_FADE_OUT, length / 4) * rate))

    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    try:
        with _open_input(master_path) as source:
            stream = source.streams.audio[0]
            output = _open_output(partial, "mp3", {"id3v2_version": "0"})
            try:
                target = _add_audio_stream(output, "libmp3lame", rate, layout, {})
                target.codec_context.bit_rate = PREVIEW_BIT_RATE
                clip = _clip_frames(source, stream, master_path, start, first, count, rate, layout)
                written = 0
                for samples in clip:
                    index = np.arange(written, written + samples.shape[1])
                    gain = np.minimum(1.0, np.minimum(index / fade_in, (count - 1 - index) / fade_out))
                    shaped = (samples * np.clip(gain, 0.0, 1.0).astype(np.float32)).astype(np.float32)
                    frame = AudioFrame.from_ndarray(np.ascontiguousarray(shaped), format="fltp", layout=layout)
                    frame.sample_rate = rate
                    frame.pts = written
                    frame.time_base = Fraction(1, rate)
                    written += samples.shape[1]
                    output.mux(target.encode(frame))
                output.mux(target.encode(None))
            finally:
                output.close()
        digests = digest_file(partial)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return PreviewInfo(
        path=out_path,
        digests=digests,
        start_ms=round(first * 1000 / rate),
        duration_ms=round(written * 1000 / rate),
        track_duration_ms=info.duration_ms,
    )


def _clip_frames(
    source: InputContainer,
    stream: AudioStream,
    master_path: Path,
    start: float,
    first: int,
    count: int,
    rate: int,
    layout: str,
) -> Iterator[np.ndarray]:
    """Float planar sample blocks ``[first, first + count)`` of the master at ``rate``."""
    resampler = AudioResampler(format="fltp", layout=layout, rate=rate)
    position: int | None = None  # in output samples from the start of the track
    end = first + count
    if start > 0 and stream.time_base:
        # Lands on or before ``start`` (a FLAC frame or WAV block boundary); the exact
        # cut comes from the decoded frames' timestamps below.
        source.seek(math.floor(start / stream.time_base), stream=stream, backward=True)
    for decoded in _decode(source, stream, master_path):
        if position is None:
            seconds = float(decoded.pts * decoded.time_base) if decoded.pts is not None and decoded.time_base else 0.0
            position = round(seconds * rate)
        decoded.pts = None
        for frame in resampler.resample(decoded):
            block = frame.to_ndarray()
            begin, stop = position, position + block.shape[1]
            position = stop
            if stop > first:
                yield block[:, max(first - begin, 0) : min(stop, end) - begin]
            if stop >= end:
                return
    if position is not None:
        for frame in resampler.resample(None):
            block = frame.to_ndarray()
            begin, position = position, position + block.shape[1]
            if position > first:
                yield block[:, max(first - begin, 0) : min(position, end) - begin]
