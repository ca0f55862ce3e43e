"""Every buyer format encoded from one lossless master (see :mod:`shop.catalog.masters`).

:func:`encode` makes one buyer format of a master (see :mod:`shop.formats`), tagged and
with its cover (:mod:`shop.catalog.tag_writing`); :func:`encoder_settings` is the exact
FFmpeg setup of each format. The preview clip is :mod:`shop.catalog.previews`.

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

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.codec.context import Flags as CodecFlags
from av.container import InputContainer, OutputContainer

from shop.catalog.hashing import Digests, digest_file
from shop.catalog.masters import MasterError, MasterInfo, decode, open_input, read_header
from shop.catalog.tag_writing import TrackTags, image_mime, write_tags
from shop.formats import BuyerFormat, get_format

_BITEXACT = {"fflags": "+bitexact"}


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


def lossy_rate(master: MasterInfo) -> int:
    """The sample rate of the lossy formats (and the preview) made from ``master``."""
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
            return EncoderSettings("mp3", "libmp3lame", lossy_rate(master), vbr_quality=0, muxer_options=no_id3)
        case "mp3-320":
            return EncoderSettings("mp3", "libmp3lame", lossy_rate(master), bit_rate=320_000, muxer_options=no_id3)
        case "aac":
            return EncoderSettings("ipod", "aac", lossy_rate(master), bit_rate=256_000)
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
    :param master: the master's :func:`~shop.catalog.masters.probe_master` result, to skip
        reading its headers again. Without it only the headers are checked before encoding; a corrupt or
        truncated master is still refused, when decoding falls short, and nothing is left
        at ``out_path``.
    :raises MasterError: when the master is refused or turns out corrupt.
    :raises KeyError: for an unknown format id.
    :raises ValueError: when ``cover`` is neither PNG nor JPEG.
    """
    buyer_format = get_format(fmt)
    cover_mime = image_mime(cover) if cover is not None else None
    info = master or read_header(master_path)
    settings = encoder_settings(buyer_format.id, info)
    with written_beside(out_path) as partial:
        with open_input(master_path) as source:
            stream = source.streams.audio[0]
            frames = _transcode(source, stream, master_path, partial, settings)
        if frames < info.frames:
            raise MasterError(master_path, f"truncated or corrupt: {info.frames} frames declared, {frames} decodable")
        write_tags(buyer_format.id, partial, tags, cover, cover_mime)
        digests = digest_file(partial)
    return EncodedFile(
        path=out_path,
        format=buyer_format,
        digests=digests,
        sample_rate=settings.rate,
        channels=info.channels,
        bit_depth=info.bit_depth if buyer_format.lossless else None,
        duration_ms=info.duration_ms,
    )


@contextmanager
def written_beside(out_path: Path) -> Iterator[Path]:
    """A path beside ``out_path`` to write to, renamed onto it when the block succeeds and
    removed when it fails: ``out_path`` only ever holds a complete file."""
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    try:
        yield partial
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)


def open_output(path: Path, muxer: str, options: Mapping[str, str]) -> OutputContainer:
    """``av.open`` for writing, with the muxer's ``bitexact`` flag."""
    return av.open(str(path), mode="w", format=muxer, container_options={**_BITEXACT, **options})


def add_audio_stream(
    output: OutputContainer,
    codec: str,
    rate: int,
    layout: str,
    options: Mapping[str, str],
) -> AudioStream:
    """An audio stream of ``codec`` in ``output``, with the encoder's ``bitexact`` flag."""
    stream = output.add_stream(codec, rate=rate, options=dict(options))
    if not isinstance(stream, AudioStream):  # pragma: no cover - every codec used is audio
        raise TypeError(f"{codec} is not an audio encoder")
    stream.codec_context.layout = layout
    stream.codec_context.flags |= CodecFlags.bitexact
    return stream


def layout_name(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _transcode(
    source: InputContainer, stream: AudioStream, master_path: Path, out: Path, settings: EncoderSettings
) -> int:
    """Decode the master into the encoder; returns the number of frames decoded."""
    codec_options = dict(settings.codec_options)
    if settings.bits_per_raw_sample:
        codec_options["bits_per_raw_sample"] = str(settings.bits_per_raw_sample)
    output = open_output(out, settings.muxer, settings.muxer_options)
    try:
        target = add_audio_stream(
            output, settings.codec, settings.rate, layout_name(stream.codec_context.channels), codec_options
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
        for frame in decode(source, stream, master_path):
            frames += frame.samples
            output.mux(target.encode(frame))
        output.mux(target.encode(None))
    finally:
        output.close()
    return frames


_QP2LAMBDA = 118  # FF_QP2LAMBDA in libavutil/avutil.h
