"""Masters: whether a lossless file is one the store can encode every buyer format from.

A master is a FLAC, WAV or AIFF file, 16 or 24 bit, 44.1 to 96 kHz, mono or stereo.
:func:`probe_master` accepts or refuses one, with a message naming the file for the
operator; :func:`read_header` checks only the headers. :func:`open_input` and :func:`decode`
are how the encoder (:mod:`shop.catalog.encoding`) and the preview
(:mod:`shop.catalog.previews`) read a master, so a corrupt one is refused the same way
everywhere. Plain functions over paths, with no Flask and no database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer
from mutagen import MutagenError
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.wave import WAVE

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


def probe_master(path: Path) -> MasterInfo:
    """Check that ``path`` is a master the store can encode from, and describe it.

    Reads the headers, then decodes the whole file once (streaming) to count its frames
    exactly and to find corruption before any buyer file is made.

    :raises MasterError: for a lossy file (MP3, AAC, Opus, Vorbis...), an unsupported
        container, bit depth, sample rate or channel count, a corrupt or truncated file,
        or one that cannot be opened. The message names the file.
    """
    header = read_header(path)
    frames = 0
    with open_input(path) as container:
        stream = container.streams.audio[0]
        for frame in decode(container, stream, path):
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


def read_header(path: Path) -> MasterInfo:
    """The master's format from its headers only (``frames`` as declared, maybe 0)."""
    with open_input(path) as container:
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
def open_input(path: Path) -> Iterator[InputContainer]:
    """``av.open`` for reading, with its errors as :class:`MasterError`."""
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MasterError(path, f"cannot be opened as audio ({_reason(exc)})") from exc
    try:
        yield container
    finally:
        container.close()


def decode(container: InputContainer, stream: AudioStream, path: Path) -> Iterator[AudioFrame]:
    """The master's frames, one at a time; decoding errors become :class:`MasterError`."""
    try:
        for packet in container.demux(stream):
            yield from stream.decode(packet)
    except (av.FFmpegError, ValueError) as exc:
        raise MasterError(path, f"corrupt audio ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc) or type(exc).__name__

