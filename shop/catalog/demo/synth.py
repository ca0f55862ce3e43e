"""Small numpy synthesiser for the demo pack: drums, plucked strings, synths, a babbling
"voice", slide whistle, laugh track and applause, and one arrangement per genre.

Everything is deterministic: each render takes a seeded :class:`numpy.random.Generator`,
so the same demo produces the same samples (and, encoded, the same bytes) every time.
Nothing here aims at realism; it aims at short pieces that are pleasant and clearly
different per genre, rendered in well under a second each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

SR = 44100
TAU = 2 * np.pi


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def times(seconds: float) -> np.ndarray:
    return np.arange(int(round(seconds * SR))) / SR


class Timeline:
    """A mono buffer that sounds are mixed into at given times (in seconds)."""

    def __init__(self, seconds: float) -> None:
        self.buffer = np.zeros(int(round(seconds * SR)))

    @property
    def seconds(self) -> float:
        return len(self.buffer) / SR

    def add(self, sound: np.ndarray, at: float, gain: float = 1.0) -> None:
        start = int(round(at * SR))
        if start >= len(self.buffer) or start + len(sound) <= 0:
            return
        if start < 0:
            sound, start = sound[-start:], 0
        end = min(len(self.buffer), start + len(sound))
        self.buffer[start:end] += gain * sound[: end - start]


# -- filters and effects (zero-phase, in the frequency domain: numpy has no IIR filters) --


@lru_cache(maxsize=256)
def _fft_size(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n: as fast as a power of two, and often half its size."""
    best = 1 << int(np.ceil(np.log2(max(n, 2))))
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            size = power35
            while size < n:
                size *= 2
            best = min(best, size)
            power35 *= 3
        power5 *= 5
    return best


def moving_average(x: np.ndarray, seconds: float) -> np.ndarray:
    """A centred box filter in O(n), for smoothing control curves."""
    width = max(1, int(seconds * SR))
    padded = np.concatenate((np.full(width // 2, x[0]), x, np.full(width - width // 2, x[-1])))
    sums = np.cumsum(np.concatenate(([0.0], padded)))
    return (sums[width:] - sums[:-width])[: len(x)] / width


def eq(x: np.ndarray, lowpass: float | None = None, highpass: float | None = None, order: int = 2) -> np.ndarray:
    """Butterworth-shaped low/high-pass magnitude applied through one FFT."""
    n = len(x)
    size = _fft_size(n + 4096)  # padding keeps the circular wrap-around out of the signal
    spectrum = np.fft.rfft(x, size)
    freqs = np.fft.rfftfreq(size, 1 / SR)
    gain = np.ones_like(freqs)
    if lowpass:
        gain /= np.sqrt(1 + (freqs / lowpass) ** (2 * order))
    if highpass:
        gain /= np.sqrt(1 + (highpass / np.maximum(freqs, 1e-3)) ** (2 * order))
    return np.fft.irfft(spectrum * gain, size)[:n]


def convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    size = _fft_size(len(x) + len(kernel))
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(kernel, size), size)[: len(x)]


def reverb(
    x: np.ndarray, rng: np.random.Generator, seconds: float = 1.2, wet: float = 0.18, brightness: float = 5000.0
) -> np.ndarray:
    """A room: convolution with exponentially decaying, darkened noise."""
    t = times(seconds)
    ir = eq(rng.standard_normal(len(t)), lowpass=brightness) * np.exp(-6.9 * t / seconds)
    ir[: int(0.012 * SR)] = 0.0  # a short pre-delay keeps the dry attack clear
    ir /= np.sqrt(np.sum(ir**2)) + 1e-12
    return x + wet * convolve(x, ir)


def echo(x: np.ndarray, delay: float, feedback: float = 0.35, repeats: int = 3) -> np.ndarray:
    out = x.copy()
    d = int(round(delay * SR))
    for k in range(1, repeats + 1):
        if k * d >= len(x):
            break
        out[k * d :] += feedback**k * x[: len(x) - k * d]
    return out


def fade(x: np.ndarray, fade_in: float = 0.005, fade_out: float = 0.3) -> np.ndarray:
    x = x.copy()
    a, b = int(fade_in * SR), int(fade_out * SR)
    if a:
        x[:a] *= np.linspace(0, 1, a)
    if b:
        x[-b:] *= np.linspace(1, 0, b) ** 2
    return x


def master(x: np.ndarray, peak: float = 0.89) -> np.ndarray:
    """Soft-clip the loudest moments, then normalise to ``peak`` (about -1 dBFS)."""
    x = x - np.mean(x)
    x = np.tanh(1.2 * x / (np.max(np.abs(x)) + 1e-12))
    return (fade(x) * peak / (np.max(np.abs(x)) + 1e-12)).astype(np.float32)


def envelope(n: int, attack: float, decay: float, release: float = 0.02) -> np.ndarray:
    t = np.arange(n) / SR
    env = np.exp(-t / decay) if decay > 0 else np.ones(n)
    a = min(n, max(1, int(attack * SR)))
    env[:a] *= np.linspace(0, 1, a)
    r = min(n, int(release * SR))
    if r:
        env[-r:] *= np.linspace(1, 0, r)
    return env


# -- drums (one sample per kind, reused on every hit) -----------------------------------


def _noise(seed: int, like: np.ndarray) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(len(like))


@cache
def kick(punch: float = 1.0) -> np.ndarray:
    t = times(0.4)
    freq = 45 + 110 * punch * np.exp(-t / 0.035)
    body = np.sin(TAU * np.cumsum(freq) / SR) * np.exp(-t / 0.16)
    click = eq(_noise(1, t), lowpass=5000) * np.exp(-t / 0.004) * 0.3
    return body + click


@cache
def snare(brush: bool = False) -> np.ndarray:
    t = times(0.35)
    tone = np.sin(TAU * 185 * t) * np.exp(-t / 0.045) * (0.25 if brush else 0.6)
    noise = eq(_noise(2, t), lowpass=9000, highpass=1500 if brush else 900)
    rattle = noise * np.exp(-t / (0.12 if brush else 0.08))
    if brush:
        rattle *= np.minimum(1, t / 0.015)
    return (tone + rattle * 0.9) * (0.5 if brush else 1.0)


@cache
def hat(open_: bool = False) -> np.ndarray:
    t = times(0.3 if open_ else 0.08)
    noise = eq(_noise(3, t), highpass=7000)
    return noise * np.exp(-t / (0.09 if open_ else 0.018)) * 0.5


@cache
def shaker() -> np.ndarray:
    t = times(0.07)
    return eq(_noise(4, t), highpass=5000) * np.sin(np.pi * t / t[-1]) ** 2 * 0.25


@cache
def clap() -> np.ndarray:
    t = times(0.3)
    noise = eq(_noise(5, t), lowpass=3500, highpass=900)
    env = np.exp(-t / 0.09) * 0.6
    for offset in (0.0, 0.011, 0.023):
        env += np.where(t >= offset, np.exp(-np.maximum(t - offset, 0) / 0.006), 0)
    return noise * env * 0.6


@cache
def crash() -> np.ndarray:
    t = times(1.8)
    return eq(_noise(6, t), highpass=3500, lowpass=14000) * np.exp(-t / 0.55) * 0.55


@cache
def tom(pitch: float) -> np.ndarray:
    t = times(0.5)
    freq = pitch * (1 + 0.5 * np.exp(-t / 0.04))
    body = np.sin(TAU * np.cumsum(freq) / SR) * np.exp(-t / 0.2)
    return body + eq(_noise(7, t), lowpass=4000) * np.exp(-t / 0.01) * 0.2


# -- pitched voices ---------------------------------------------------------------------


def power_chord(root: int, seconds: float, muted: bool) -> np.ndarray:
    """A distorted guitar power chord (root, fifth, octave), palm-muted or ringing."""
    t = times(seconds)
    x = np.zeros_like(t)
    for interval, level in ((0, 1.0), (7, 0.8), (12, 0.6)):
        for detune in (0.998, 1.002):
            phase = midi_hz(root + interval) * detune * t
            x += level * (2 * (phase % 1.0) - 1)
    env = envelope(len(t), 0.003, 0.09 if muted else 1.6, release=0.015)
    # Distortion after the envelope, so a decaying chord cleans up the way an amp does.
    return np.tanh((2.5 if muted else 3.5) * x * env / 3) * (0.8 if muted else 1.0)


def bass_note(note: int, seconds: float, decay: float = 0.4) -> np.ndarray:
    t = times(seconds)
    f = midi_hz(note)
    x = np.sin(TAU * f * t) + 0.35 * np.sin(TAU * 2 * f * t) + 0.1 * np.sin(TAU * 3 * f * t)
    return np.tanh(1.5 * x) * envelope(len(t), 0.004, decay, release=0.02)


def harmonics(phase: np.ndarray, count: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(k, sin(k·phase))`` for k = 1..count, by the Chebyshev recurrence
    sin(kφ) = 2·cos(φ)·sin((k-1)φ) - sin((k-2)φ): one multiply-add per harmonic, not a sine."""
    two_cos = 2 * np.cos(phase)
    previous, current = np.zeros_like(phase), np.sin(phase)
    for k in range(1, count + 1):
        yield k, current
        previous, current = current, two_cos * current - previous


def synth_pluck(note: float, seconds: float, brightness: float = 1.0, count: int = 10) -> np.ndarray:
    """A saw-like pluck whose upper harmonics die first: a filter sweep, for free."""
    t = times(seconds)
    f = midi_hz(note)
    x = np.zeros_like(t)
    per_harmonic = np.exp(-t * 1.6 / (brightness * 0.25))
    fading = np.exp(-t / 0.25)
    for k, wave in harmonics(TAU * f * t, min(count, int(SR / 2.5 / f))):
        fading = fading * per_harmonic
        x += wave * fading / k
    return x * envelope(len(t), 0.002, 0, release=0.02)


PAD_CYCLE = np.sum([np.sin(TAU * k * np.linspace(0, 1, 2048, endpoint=False)) / (k * k) for k in range(1, 6)], axis=0)


def pad_chord(notes: list[int], seconds: float) -> np.ndarray:
    t = times(seconds)
    x = np.zeros_like(t)
    cycle_x = np.linspace(0, 1, len(PAD_CYCLE), endpoint=False)
    for note in notes:
        for detune, offset in ((0.996, 0.0), (1.0, 0.31), (1.004, 0.67)):
            x += np.interp(midi_hz(note) * detune * t + offset, cycle_x, PAD_CYCLE, period=1.0)
    rise = np.minimum(1, t / 0.35)
    fall = np.minimum(1, (t[-1] - t) / 0.4)
    return x * rise * fall / (len(notes) * 3)


@cache
def plucked_string(note: int, brightness: float = 0.5, seconds: float = 2.5) -> np.ndarray:
    """Karplus–Strong: a noise burst circulating in a delay line through an averaging filter.

    The recurrence runs one period at a time (each period only needs the one before), so
    numpy does the inner work. It is rendered at a rate that makes the period a whole
    number of samples, then resampled, so every string is in tune.
    """
    f = midi_hz(note)
    period = int(np.ceil(SR / f))
    rate = f * (period + 0.5)  # the two-point average adds half a sample of delay
    n = int(seconds * rate)
    rng = np.random.default_rng(note)
    excitation = rng.uniform(-1, 1, period)
    # Softer picks (less brightness) start with a smoother burst.
    smooth = max(1, int(round((1 - brightness) * 6)))
    excitation = np.convolve(excitation, np.ones(smooth) / smooth, mode="same").astype(np.float64)
    decay = 0.996 + 0.0035 * brightness
    y = np.zeros(n + period)
    y[:period] = excitation
    for start in range(period, n, period):
        prev = y[start - period : start]
        shifted = y[start - period - 1 : start - 1] if start > period else np.concatenate(([0.0], prev[:-1]))
        y[start : start + period] = decay * 0.5 * (prev + shifted)
    y = y[:n]
    out = np.interp(np.arange(int(seconds * SR)) * rate / SR, np.arange(n), y)
    return out - np.mean(out)


def strum(notes: list[int], seconds: float, up: bool, velocity: float, brightness: float = 0.6) -> np.ndarray:
    strings = notes[::-1] if up else notes
    spread = 0.008 if up else 0.013
    out = np.zeros(int((seconds + spread * len(strings)) * SR))
    for i, note in enumerate(strings):
        s = plucked_string(note, brightness)
        n = min(len(s), int((seconds + 0.05) * SR))
        sound = s[:n] * np.linspace(1, 0, n) ** 0.3
        start = int(i * spread * SR)
        end = min(len(out), start + n)
        out[start:end] += sound[: end - start]
    return out * velocity


# -- voices for the comedy album --------------------------------------------------------

VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (300, 2200, 3000),
    "o": (570, 840, 2410),
    "u": (320, 870, 2240),
}


FORMANT_SHAPE = ((130.0, 1.0), (170.0, 0.6), (240.0, 0.3))  # (bandwidth in Hz, level)
VOICE_GRID = 64


def _formant_voice(
    f0: np.ndarray, formants: np.ndarray, amplitude: np.ndarray, max_freq: float = 4200, rate: int = SR
) -> np.ndarray:
    """Harmonics of ``f0`` shaped by three moving formants (``formants`` is ``(3, n)``),
    sampled at ``rate``."""
    phase = TAU * np.cumsum(f0) / rate
    out = np.zeros_like(f0)
    # Pitch and formants move slowly: weigh the harmonics on a coarse grid, then interpolate.
    n = len(f0)
    grid = max(4, VOICE_GRID * rate // SR)
    coarse = np.arange(0, n + grid, grid).clip(max=n - 1)
    f0_coarse, formants_coarse = f0[coarse], formants[:, coarse]
    ramp = np.tile(np.arange(grid) / grid, len(coarse) - 1)[:n]
    for k, wave in harmonics(phase, int(max_freq / np.min(f0))):
        fk = k * f0_coarse
        gain = np.zeros_like(fk)
        for j, (width, level) in enumerate(FORMANT_SHAPE):
            gain += level * np.exp(-(((fk - formants_coarse[j]) / width) ** 2))
        gain *= (fk < max_freq) / np.sqrt(k)
        if np.max(gain) >= 1e-3:
            # Linear interpolation between grid points, without np.interp's searching.
            full = np.repeat(gain[:-1], grid)[:n] + np.repeat(np.diff(gain), grid)[:n] * ramp
            out += wave * full
    return out * amplitude


def babble(seconds: float, rng: np.random.Generator, pitch: float = 125.0, rising_end: bool = False) -> np.ndarray:
    """Wordless talking: syllables with vowels, a few consonant hisses, and intonation."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    amplitude = np.zeros(n)
    formants = np.repeat(np.array(VOWELS["a"], dtype=float)[:, None], n, axis=1)
    accents = np.zeros(n)
    hiss = np.zeros(n)
    position = 0.05
    vowel = "a"
    while position < seconds - 0.12:
        length = rng.uniform(0.1, 0.21)
        a, b = int(position * SR), min(n, int((position + length) * SR))
        vowel = rng.choice(list(VOWELS))
        formants[:, a:] = np.array(VOWELS[vowel])[:, None]
        shape = np.sin(np.linspace(0, np.pi, b - a)) ** 0.6
        amplitude[a:b] = np.maximum(amplitude[a:b], shape * rng.uniform(0.6, 1.0))
        accents[a:b] = rng.choice([0.0, 0.0, 0.08, 0.15])
        if rng.random() < 0.3:
            h = min(n - a, int(0.05 * SR))
            hiss[a : a + h] = np.linspace(1, 0, h) * 0.25
        position += length + (rng.uniform(0.18, 0.35) if rng.random() < 0.12 else rng.uniform(0.0, 0.03))
    formants = np.stack([moving_average(row, 0.03) for row in formants])
    declination = 1.1 - 0.2 * t / seconds
    if rising_end:
        declination += 0.35 * np.clip((t - (seconds - 0.6)) / 0.6, 0, 1) ** 2
    f0 = pitch * (declination + moving_average(accents, 0.03)) * (1 + 0.01 * np.sin(TAU * 5 * t))
    voice = _formant_voice(f0, formants, moving_average(amplitude, 0.03))
    consonants = eq(rng.standard_normal(n), highpass=3500, lowpass=9000) * hiss
    return voice + consonants


def slide_whistle(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """A slide whistle gliding through ``(seconds, hz)`` points, with a little vibrato."""
    seconds = points[-1][0]
    t = times(seconds)
    knots_t, knots_f = zip(*points, strict=True)
    glide = np.exp(np.interp(t, knots_t, np.log(knots_f)))
    freq = glide * (1 + 0.012 * np.sin(TAU * 5.5 * t))
    phase = TAU * np.cumsum(freq) / SR
    tone = np.sin(phase) + 0.12 * np.sin(2 * phase) + 0.04 * np.sin(3 * phase)
    breath = eq(np.random.default_rng(11).standard_normal(len(t)), highpass=2000, lowpass=8000) * 0.04
    return (tone + breath) * envelope(len(t), 0.04, 0, release=0.08) * 0.6


def rimshot() -> np.ndarray:
    """Ba-dum-tss."""
    line = Timeline(2.2)
    line.add(tom(180), 0.0, 0.8)
    line.add(snare(), 0.0, 0.35)
    line.add(tom(125), 0.19, 0.9)
    line.add(kick(), 0.43, 0.8)
    line.add(snare(), 0.43, 0.7)
    line.add(crash(), 0.43, 0.5)
    return line.buffer


def laughter(seconds: float, rng: np.random.Generator, people: int = 12) -> np.ndarray:
    """A studio audience laughing: many voices of "ha-ha-ha" at their own pitch and pace.

    Nothing in a laugh goes above ~3.5 kHz, so the crowd is rendered at a quarter of the
    sample rate (a quarter of the work), then brought up and low-passed once.
    """
    rate = SR // 4
    n = int(seconds * rate)
    out = np.zeros(n)
    breath = rng.standard_normal(n + rate)
    for _ in range(people):
        start = rng.uniform(0.0, 0.4)
        length = rng.uniform(0.6, 1.0) * (seconds - start)
        t = np.arange(int(length * rate)) / rate
        pace = rng.uniform(3.8, 6.2) * (1 - 0.25 * t / length)
        pulses = np.maximum(0, np.sin(TAU * np.cumsum(pace) / rate + rng.uniform(0, TAU))) ** 2.5
        f0 = rng.uniform(150, 330) * (1.15 - 0.3 * t / length)
        shape = np.minimum(1, t / 0.12) * np.exp(-t / (length * 0.6))
        formants = np.array(VOWELS[rng.choice(["a", "e", "a"])])[:, None] * np.ones(len(t))
        voice = _formant_voice(f0, formants, pulses * shape, max_freq=3000, rate=rate)
        offset = int(rng.integers(0, rate))
        voice += breath[offset : offset + len(t)] * pulses * shape * 0.1
        a = int(start * rate)
        out[a : a + len(t)] += voice[: n - a] * rng.uniform(0.5, 1.0)
    full = np.interp(np.arange(int(seconds * SR)) / SR, np.arange(n) / rate, out)
    return eq(full, lowpass=3500, highpass=200, order=4) / np.sqrt(people)


def applause(seconds: float, rng: np.random.Generator, claps_per_second: float = 90) -> np.ndarray:
    n = int(seconds * SR)
    impulses = np.zeros(n)
    count = int(claps_per_second * seconds)
    impulses[rng.integers(0, n, count)] = rng.uniform(0.3, 1.0, count)
    t = times(0.02)
    kernel = rng.standard_normal(len(t)) * np.exp(-t / 0.004)
    swell = np.minimum(1, np.arange(n) / (0.3 * SR)) * np.minimum(1, (n - np.arange(n)) / (0.8 * SR))
    return eq(convolve(impulses, kernel), highpass=700, lowpass=9000) * swell * 0.5


# -- one arrangement per genre ----------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Parameters that make each track of an album its own piece."""

    seed: int
    tempo: float
    key: int
    variant: int


Renderer = Callable[[Piece], np.ndarray]

ROCK_RIFFS = (
    "0m 0m 0m 0m 3 - 5 - 0m 0m 0m 0m 10 - 7 -",
    "0 - - 0m 0m 0m 10 - 5 - - 5m 5m 5m 3 -",
    "0m 0m 0m 0m 0m 0m 3 5 0m 0m 0m 0m 0m 0m 10 7",
)


def rock(piece: Piece) -> np.ndarray:
    """Driving power-chord riffs over a straight rock beat, ending on a ringing chord."""
    rng = np.random.default_rng(piece.seed)
    eighth = 30 / piece.tempo
    riffs = [ROCK_RIFFS[(piece.variant + i) % len(ROCK_RIFFS)] for i in (0, 0, 1)]
    bars = 2 * len(riffs)
    end = bars * 8 * eighth
    line = Timeline(end + 2.2)
    guitar = Timeline(line.seconds)
    bass = Timeline(line.seconds)

    steps: list[tuple[int, bool, int]] = []  # (degree, muted, length in eighths)
    for riff in riffs:
        for token in riff.split():
            if token == "-":
                degree, muted, length = steps[-1]
                steps[-1] = (degree, muted, length + 1)
            else:
                steps.append((int(token.rstrip("m")), token.endswith("m"), 1))
    position = 0
    for degree, muted, length in steps:
        at = position * eighth
        root = piece.key + degree
        guitar.add(power_chord(root, length * eighth + 0.02, muted), at)
        bass.add(bass_note(root - 12, length * eighth, decay=0.25 if muted else 0.6), at, 0.8)
        position += length
    guitar.add(power_chord(piece.key, 2.0, False), end)
    bass.add(bass_note(piece.key - 12, 2.0, decay=0.8), end, 0.8)

    for bar in range(bars):
        base = bar * 8 * eighth
        for step in range(8):
            line.add(hat(open_=step == 7 and bar % 2 == 1), base + step * eighth, 0.35 if step % 2 else 0.5)
        for step in (0, 4, 5) if bar % 2 == 0 else (0, 3, 4):
            line.add(kick(), base + step * eighth, 0.9)
        for step in (2, 6):
            line.add(snare(), base + step * eighth, 0.75)
        if bar == bars - 1:  # a fill into the last chord
            for step, pitch in enumerate((200, 200, 150, 150)):
                line.add(tom(pitch), base + (6 + step / 2) * eighth, 0.6)
    line.add(crash(), 0.0, 0.7)
    line.add(crash(), end, 0.9)
    line.add(kick(), end, 1.0)

    guitar_bus = eq(guitar.buffer, lowpass=3800, highpass=90)
    mix = line.buffer * 0.8 + guitar_bus * 0.55 + eq(bass.buffer, lowpass=900) * 0.5
    return master(reverb(mix, rng, seconds=0.9, wet=0.12))


ELECTRONIC_PROGRESSIONS = (
    ((0, 3, 7), (-4, 0, 3), (3, 7, 10), (-2, 2, 5)),  # i  VI  III VII
    ((0, 3, 7), (5, 8, 12), (-4, 0, 3), (-2, 2, 5)),  # i  iv  VI  VII
    ((0, 3, 7), (-2, 2, 5), (-4, 0, 3), (-5, -1, 2)),  # i VII  VI  V
)


def electronic(piece: Piece) -> np.ndarray:
    """Four-on-the-floor kick, off-beat hats, claps, an echoing arpeggio, pad and bass."""
    rng = np.random.default_rng(piece.seed)
    beat = 60 / piece.tempo
    sixteenth = beat / 4
    progression = ELECTRONIC_PROGRESSIONS[piece.variant % len(ELECTRONIC_PROGRESSIONS)]
    bars = 6
    line = Timeline(bars * 4 * beat + 1.2)
    arp = Timeline(line.seconds)
    pads = Timeline(line.seconds)
    pattern = (0, 1, 2, 3, 2, 1, 0, 2) if piece.variant % 2 else (0, 1, 2, 1, 3, 2, 1, 2)

    for bar in range(bars):
        chord = progression[bar % len(progression)]
        base = bar * 4 * beat
        for b in range(4):
            line.add(kick(punch=1.2), base + b * beat, 1.0)
            line.add(hat(open_=True), base + (b + 0.5) * beat, 0.45 if bar else 0.25)
            if b % 2 == 1 and bar > 0:
                line.add(clap(), base + b * beat, 0.6)
            for s in (1, 3):
                line.add(hat(), base + (b + s / 4) * beat, 0.2)
            if bar > 0:
                line.add(bass_note(piece.key - 12 + chord[0], beat * 0.45, decay=0.15), base + (b + 0.5) * beat, 0.9)
        tones = [piece.key + 12 + n for n in chord] + [piece.key + 24 + chord[0]]
        for step in range(16):
            note = tones[pattern[step % len(pattern)]] + (12 if step % 8 == 7 and bar % 2 else 0)
            brightness = 0.6 + 0.5 * bar / bars
            arp.add(synth_pluck(note, sixteenth * 1.6, brightness), base + step * sixteenth, 0.5)
        if bar > 0:
            pads.add(pad_chord([piece.key + n for n in chord], 4 * beat + 0.3), base, 0.5)
    line.add(kick(punch=1.2), bars * 4 * beat, 1.0)
    line.add(crash(), bars * 4 * beat, 0.5)

    arp_bus = echo(arp.buffer, 3 * sixteenth, feedback=0.35)
    mix = line.buffer * 0.75 + arp_bus * 0.55 + eq(pads.buffer, lowpass=2500) * 0.5
    return master(reverb(mix, rng, seconds=1.6, wet=0.16))


INDIE_CHORDS: dict[str, list[int]] = {
    "G": [43, 47, 50, 55, 59, 67],
    "D": [50, 57, 62, 66],
    "Em": [40, 47, 52, 55, 59, 64],
    "C": [48, 52, 55, 60, 64],
    "Am": [45, 52, 57, 60, 64],
    "Fmaj7": [41, 48, 53, 57, 60, 64],
    "Cadd9": [48, 52, 55, 62, 64],
}
INDIE_PROGRESSIONS = (
    ("G", "D", "Em", "Cadd9"),
    ("C", "G", "Am", "Fmaj7"),
    ("Em", "Cadd9", "G", "D"),
)
# Down / up strums over a bar of eighths: the campfire "D . D U . U D U".
STRUM_PATTERN = ("D", None, "D", "U", None, "U", "D", "U")


def indie(piece: Piece) -> np.ndarray:
    """Jangly strummed Karplus–Strong guitar, a picked melody, brushed drums and bass."""
    rng = np.random.default_rng(piece.seed)
    eighth = 30 / piece.tempo
    progression = INDIE_PROGRESSIONS[piece.variant % len(INDIE_PROGRESSIONS)]
    bars = 5
    end = bars * 8 * eighth
    line = Timeline(end + 2.6)
    guitars = Timeline(line.seconds)
    shift = piece.key  # capo: the same shapes, moved

    for bar in range(bars):
        name = progression[bar % len(progression)]
        notes = [n + shift for n in INDIE_CHORDS[name]]
        base = bar * 8 * eighth
        strums = [(i, s) for i, s in enumerate(STRUM_PATTERN) if s]
        for index, (step, kind) in enumerate(strums):
            nxt = strums[index + 1][0] if index + 1 < len(strums) else 8
            up = kind == "U"
            chord = notes[-4:] if up else notes
            velocity = (0.55 if up else 0.9) * rng.uniform(0.9, 1.05)
            guitars.add(strum(chord, (nxt - step) * eighth, up, velocity), base + step * eighth + rng.uniform(0, 0.008))
        if bar >= 1:  # a picked, bright melody over the strums from the second bar on
            for step in range(0, 8, 2 if bar < 3 else 1):
                note = notes[-1] + 12 if step % 4 == 0 else notes[-2 - (step % 3)] + 12
                guitars.add(plucked_string(note, 0.95)[: int(4 * eighth * SR)], base + step * eighth, 0.22)
        line.add(bass_note(notes[0] - 12 if notes[0] > 45 else notes[0], 8 * eighth, decay=1.2), base, 0.55)
        line.add(kick(punch=0.6), base, 0.7)
        line.add(kick(punch=0.6), base + 5 * eighth, 0.5)
        for step in (2, 6):
            line.add(snare(brush=True), base + step * eighth, 0.7)
        for step in range(16):
            line.add(shaker(), base + step * eighth / 2, 0.6 if step % 2 == 0 else 0.35)
    final = [n + shift for n in INDIE_CHORDS[progression[0]]]
    guitars.add(strum(final, 2.5, False, 1.0), end)
    line.add(bass_note(final[0] - 12 if final[0] > 45 else final[0], 2.4, decay=1.2), end, 0.55)

    mix = eq(guitars.buffer, highpass=110) * 0.8 + eq(line.buffer, lowpass=7000) * 0.7
    return master(reverb(mix, rng, seconds=1.4, wet=0.2, brightness=4000))


COMEDY_ROUTINES = (
    # (what, seconds, option) in order; the last laugh overlaps the rimshot's cymbal.
    (
        ("applause", 2.2, 0),
        ("talk", 3.2, 0),
        ("whistle", 1.1, 0),
        ("talk", 1.6, 1),
        ("rimshot", 0.9, 0),
        ("laugh", 3.0, 14),
    ),
    (
        ("talk", 2.8, 0),
        ("whistle", 1.3, 1),
        ("talk", 2.4, 1),
        ("rimshot", 0.9, 0),
        ("laugh", 2.6, 10),
        ("talk", 1.4, 0),
        ("laugh", 1.6, 8),
    ),
    (
        ("talk", 2.0, 1),
        ("laugh", 1.2, 6),
        ("talk", 2.6, 0),
        ("whistle", 1.0, 2),
        ("rimshot", 0.9, 0),
        ("laugh", 2.8, 16),
    ),
    (
        ("talk", 3.0, 0),
        ("whistle", 1.2, 0),
        ("whistle", 1.2, 1),
        ("rimshot", 0.9, 0),
        ("laugh", 1.8, 14),
        ("applause", 3.2, 0),
    ),
)
WHISTLES = (
    [(0.0, 520), (0.35, 1500), (0.6, 1500), (1.1, 700)],  # up, hold, back down: "whee-oo"
    [(0.0, 1600), (0.9, 420), (1.3, 400)],  # a long sad fall
    [(0.0, 700), (0.2, 1300), (0.4, 800), (0.6, 1500), (0.8, 900), (1.0, 1800)],  # wobbling up
)


def comedy(piece: Piece) -> np.ndarray:
    """A stand-up bit without words: babbling set-up, slide whistle, ba-dum-tss, laughter."""
    rng = np.random.default_rng(piece.seed)
    routine = COMEDY_ROUTINES[piece.variant % len(COMEDY_ROUTINES)]
    total = sum(seconds for _, seconds, _ in routine) + 1.0
    line = Timeline(total)
    voice = Timeline(total)
    at = 0.2
    for what, seconds, option in routine:
        if what == "talk":
            voice.add(babble(seconds, rng, pitch=piece.key, rising_end=bool(option)), at, 1.0)
        elif what == "whistle":
            line.add(slide_whistle(WHISTLES[option]), at, 0.5)
        elif what == "rimshot":
            line.add(rimshot(), at, 0.8)
        elif what == "laugh":
            line.add(laughter(seconds + 0.6, rng, people=option), at, 1.4)
            line.add(applause(seconds * 0.6, rng, claps_per_second=40), at + 0.3, 0.35)
        elif what == "applause":
            line.add(applause(seconds, rng), at, 0.8)
            line.add(laughter(seconds * 0.5, rng, people=6), at, 0.3)
        at += seconds
    # The comic is close to the mic; the room is around the audience.
    mix = eq(voice.buffer, highpass=100, lowpass=5000) * 0.9 + reverb(line.buffer, rng, seconds=1.1, wet=0.25)
    return master(mix)


GENRES: dict[str, Renderer] = {"rock": rock, "electronic": electronic, "indie": indie, "comedy": comedy}


def clear_caches() -> None:
    """Drop the cached drum samples and strings (tens of megabytes after a demo build)."""
    for cached in (kick, snare, hat, shaker, clap, crash, tom, plucked_string):
        cached.cache_clear()
