"""The preview clip the pack page plays: about 30 s of a master from a quarter in, faded, as MP3.

Where the clip sits is a product decision (:func:`preview_window`); :func:`make_preview`
encodes it. This is the only module of the store that computes on samples, so the only one
that needs numpy, which it imports only when a preview is made.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer

from shop.catalog.encoding import add_audio_stream, layout_name, lossy_rate, open_output, written_beside
from shop.catalog.hashing import Digests, digest_file
from shop.catalog.masters import MasterInfo, decode, open_input, probe_master, read_header

if TYPE_CHECKING:
    import numpy as np

#: Preview clip: length, where it starts, fades, and its MP3 bitrate.
PREVIEW_SECONDS = 30.0
PREVIEW_START = 0.25
PREVIEW_FADE_IN = 1.0
PREVIEW_FADE_OUT = 2.0
PREVIEW_BIT_RATE = 128_000


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

    :param master: the :func:`~shop.catalog.masters.probe_master` result, when the caller has it (its exact
        duration places the clip); otherwise the headers' declared length is used.
    :raises MasterError: when the master is refused or corrupt.
    """
    # Imported here, not at the top: numpy would otherwise load with every web process.
    import numpy as np

    info = master or read_header(master_path)
    if info.frames <= 0:
        info = probe_master(master_path)
    start, length = preview_window(info.duration)
    rate = lossy_rate(info)
    layout = layout_name(info.channels)
    first = round(start * rate)
    count = round(length * rate)
    fade_in = max(1, round(min(PREVIEW_FADE_IN, length / 4) * rate))
    fade_out = max(1, round(min(PREVIEW_FADE_OUT, length / 4) * rate))

    with written_beside(out_path) as partial:
        with open_input(master_path) as source:
            stream = source.streams.audio[0]
            output = open_output(partial, "mp3", {"id3v2_version": "0"})
            try:
                target = add_audio_stream(output, "libmp3lame", rate, layout, {})
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
    for decoded in decode(source, stream, master_path):
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
