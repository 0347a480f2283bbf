"""The embedded default corpus: deterministic, music-like tracks in several genres.

Each genre is a *distribution* over arrangements, not a template: tempo, swing, drum
patterns, chord progression and voicing, bass line, lead melody, timbre (number and
roll-off of harmonics), distortion and noise are drawn from genre-specific ranges that
overlap between neighbouring genres (blues/jazz, rock/metal, disco/pop-ish hiphop), drum
patterns are mutated per track, and some tracks borrow one element from another genre, so
clustering the corpus is possible but not trivial.

Lyrics come from language-specific vocabularies (English, Bangla in Bengali script): most
words are common to all genres and a minority are genre topic words, so lyrics are only
loosely tied to genre. Some tracks are instrumental and have no lyrics at all.

Randomness is an argument: every function takes a :class:`numpy.random.Generator`, and
:func:`generate_track` derives one generator per track from the seed, the genre name and
the track number, so a track does not change when other tracks or genres are added.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

# Scales as semitone offsets from the key root.
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "pentatonic": (0, 3, 5, 7, 10),
}
# Chord qualities as semitone offsets from the chord root.
CHORDS = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dom7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "power": (0, 7, 12),
}


@dataclass(frozen=True)
class GenreStyle:
    """Ranges and patterns one genre draws from. Patterns are 16 steps per bar:
    ``X`` always hits, ``x`` hits with probability 0.5, ``.`` rests."""

    tempo: tuple[float, float]
    swing: tuple[float, float]
    kick: str
    snare: str
    hat: str
    hat_decay: float  # seconds: short = closed hi-hat, long = open hat / ride
    progressions: tuple[tuple[tuple[int, str], ...], ...]  # (root offset, chord quality) per bar
    scale: str
    chord_rhythm: str  # sustain | arpeggio | stab | skank | strum | chug | comp
    bass: str  # sustain | root | octave | walking | sub | dub | follow
    harmonics: tuple[int, int]
    rolloff: tuple[float, float]  # harmonic amplitude ~ 1 / k**rolloff: low = bright
    distortion: tuple[float, float]
    noise: tuple[float, float]
    lead_notes_per_bar: tuple[float, float]
    drum_level: float


_POP = ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj"))
_TWELVE_BAR = tuple(
    (r, "dom7") for r in (0, 0, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7)
)

STYLES: dict[str, GenreStyle] = {
    "blues": GenreStyle(
        tempo=(68, 100), swing=(0.45, 0.7),
        kick="X.....x.X.......", snare="....X.......X...", hat="X.x.X.x.X.x.X.x.", hat_decay=0.05,
        progressions=(_TWELVE_BAR,), scale="blues", chord_rhythm="comp", bass="walking",
        harmonics=(6, 12), rolloff=(1.0, 1.5), distortion=(0.0, 0.35), noise=(0.005, 0.02),
        lead_notes_per_bar=(3, 7), drum_level=0.6,
    ),
    "classical": GenreStyle(
        tempo=(56, 92), swing=(0.0, 0.0),
        kick="................", snare="................", hat="................", hat_decay=0.0,
        progressions=(((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")),
                      ((0, "min"), (5, "min"), (7, "maj"), (0, "min")),
                      ((0, "maj"), (9, "min"), (2, "min"), (7, "dom7"))),
        scale="major", chord_rhythm="arpeggio", bass="sustain",
        harmonics=(8, 16), rolloff=(1.3, 2.0), distortion=(0.0, 0.0), noise=(0.001, 0.006),
        lead_notes_per_bar=(2, 6), drum_level=0.0,
    ),
    "disco": GenreStyle(
        tempo=(112, 128), swing=(0.0, 0.1),
        kick="X...X...X...X...", snare="....X.......X...", hat="..X...X...X...X.", hat_decay=0.18,
        progressions=(((0, "min7"), (5, "min7")), ((0, "min7"), (3, "maj7"), (5, "min7"), (7, "min7"))),
        scale="dorian", chord_rhythm="stab", bass="octave",
        harmonics=(8, 14), rolloff=(0.8, 1.3), distortion=(0.0, 0.15), noise=(0.003, 0.012),
        lead_notes_per_bar=(2, 5), drum_level=0.9,
    ),
    "hiphop": GenreStyle(
        tempo=(80, 98), swing=(0.1, 0.4),
        kick="X......x..X..x..", snare="....X.......X...", hat="x.x.x.xxx.x.x.xx", hat_decay=0.03,
        progressions=(((0, "min"), (8, "maj")), ((0, "min7"), (5, "min7"), (10, "maj"), (8, "maj7"))),
        scale="minor", chord_rhythm="sustain", bass="sub",
        harmonics=(4, 9), rolloff=(1.4, 2.2), distortion=(0.0, 0.25), noise=(0.01, 0.03),
        lead_notes_per_bar=(0, 2), drum_level=1.0,
    ),
    "jazz": GenreStyle(
        tempo=(96, 170), swing=(0.5, 0.75),
        kick="X.........x.....", snare="......x.....x.x.", hat="X..xX..xX..xX..x", hat_decay=0.35,
        progressions=(((2, "min7"), (7, "dom7"), (0, "maj7"), (9, "dom7")),
                      ((0, "maj7"), (9, "min7"), (2, "min7"), (7, "dom7"))),
        scale="dorian", chord_rhythm="comp", bass="walking",
        harmonics=(5, 10), rolloff=(1.3, 1.9), distortion=(0.0, 0.05), noise=(0.003, 0.015),
        lead_notes_per_bar=(4, 8), drum_level=0.45,
    ),
    "metal": GenreStyle(
        tempo=(135, 190), swing=(0.0, 0.05),
        kick="XxXxXxXxXxXxXxXx", snare="....X.......X...", hat="X.x.X.x.X.x.X.x.", hat_decay=0.25,
        progressions=(((0, "power"), (8, "power"), (10, "power"), (0, "power")),
                      ((0, "power"), (1, "power"), (0, "power"), (6, "power"))),
        scale="minor", chord_rhythm="chug", bass="follow",
        harmonics=(10, 16), rolloff=(0.6, 1.0), distortion=(0.65, 1.0), noise=(0.01, 0.04),
        lead_notes_per_bar=(0, 6), drum_level=1.0,
    ),
    "reggae": GenreStyle(
        tempo=(66, 90), swing=(0.1, 0.3),
        kick="........X.......", snare="........X.......", hat="x.x.x.x.x.x.x.x.", hat_decay=0.04,
        progressions=(((0, "maj"), (5, "maj")), ((0, "min"), (5, "min")), ((0, "maj"), (7, "maj"))),
        scale="major", chord_rhythm="skank", bass="dub",
        harmonics=(6, 12), rolloff=(0.9, 1.4), distortion=(0.0, 0.1), noise=(0.004, 0.015),
        lead_notes_per_bar=(0, 3), drum_level=0.8,
    ),
    "rock": GenreStyle(
        tempo=(100, 145), swing=(0.0, 0.1),
        kick="X.......X.X.....", snare="....X.......X...", hat="x.x.x.x.x.x.x.x.", hat_decay=0.06,
        progressions=(_POP, ((0, "power"), (5, "power"), (7, "power"), (5, "power"))),
        scale="pentatonic", chord_rhythm="strum", bass="follow",
        harmonics=(8, 14), rolloff=(0.8, 1.2), distortion=(0.3, 0.7), noise=(0.006, 0.02),
        lead_notes_per_bar=(1, 5), drum_level=0.85,
    ),
}

# --- lyrics vocabularies -----------------------------------------------------------------

COMMON_WORDS = {
    "english": (
        "i you we me my your our love heart night day light dark road home time life world "
        "dream dreams eyes hand hands sky rain sun moon star fire water river sea wind city "
        "town street door window song sing dance walk run stay go come back away here there "
        "now tonight tomorrow yesterday always never again alone together friend baby lonely "
        "free feel know want need say tell hear hold take give find lose cry smile laugh "
        "burn fall rise wait leave remember forget true blue gold cold warm old new young "
        "long slow fast high low deep wild sweet all every nothing everything someone"
    ).split(),
    "bangla": (
        "আমি তুমি আমরা আমার তোমার আমাদের ভালোবাসা মন হৃদয় রাত দিন আলো অন্ধকার পথ ঘর "
        "সময় জীবন পৃথিবী স্বপ্ন চোখ হাত আকাশ বৃষ্টি সূর্য চাঁদ তারা আগুন জল নদী সাগর "
        "হাওয়া শহর গ্রাম রাস্তা দরজা জানালা গান গাই নাচো হাঁটি চলো থাকো যাও এসো ফিরে "
        "দূরে কাছে এখন আজ কাল সারাক্ষণ কখনো আবার একা একসাথে বন্ধু প্রিয় মুক্ত জানি "
        "চাই বলো শোনো ধরো দাও খুঁজি হারিয়ে কাঁদি হাসি পুড়ি পড়ি জাগি অপেক্ষা মনে "
        "ভুলে সত্যি নীল সোনা ঠান্ডা উষ্ণ পুরনো নতুন গভীর মিষ্টি সব কিছু কেউ কেন কোথায়"
    ).split(),
}

TOPIC_WORDS = {
    "english": {
        "blues": "blues whiskey train lonesome crossroads trouble misery rain".split(),
        "classical": "prayer eternal grace heaven spring bloom hymn dawn".split(),
        "disco": "dance floor groove boogie glitter party lights funky".split(),
        "hiphop": "rhyme mic block hustle money beat streets flow".split(),
        "jazz": "smoke club saxophone midnight swing blue cocktail piano".split(),
        "metal": "steel war blood storm scream thunder chaos iron".split(),
        "reggae": "peace unity babylon jah island roots sunshine zion".split(),
        "rock": "highway rebel guitar loud roll thunder wild freedom".split(),
    },
    "bangla": {
        "blues": "দুঃখ কান্না বেদনা ট্রেন একাকী বিরহ ক্লান্ত শূন্য".split(),
        "classical": "প্রার্থনা চিরকাল ভোর বসন্ত ফুল সুর রাগ পূজা".split(),
        "disco": "নাচ পার্টি ঝলমল ছন্দ তাল উৎসব রঙিন মাতাল".split(),
        "hiphop": "রাইম মাইক টাকা লড়াই গলি বিট শহুরে সংগ্রাম".split(),
        "jazz": "ধোঁয়া ক্লাব স্যাক্সোফোন মাঝরাত পিয়ানো নীলাভ সুরেলা নেশা".split(),
        "metal": "যুদ্ধ রক্ত ঝড় চিৎকার লোহা বজ্র ধ্বংস বিদ্রোহ".split(),
        "reggae": "শান্তি ঐক্য দ্বীপ শিকড় রোদ্দুর মুক্তি ভ্রাতৃত্ব সমুদ্র".split(),
        "rock": "মহাসড়ক বিদ্রোহী গিটার উচ্চস্বর স্বাধীনতা বুনো গর্জন দৌড়".split(),
    },
}


@dataclass(frozen=True)
class SyntheticTrack:
    track_id: str
    genre: str
    language: str
    lyrics: str | None
    audio: np.ndarray  # float32, shape (n_samples,), in [-1, 1]


# --- synthesis primitives ------------------------------------------------------------------


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _tone(
    freq: float, dur: float, *, sr: int, harmonics: int, rolloff: float,
    attack: float, decay: float, vibrato: float = 0.0, rng: np.random.Generator,
) -> np.ndarray:
    """Additive harmonic tone with an attack/exponential-decay envelope; shape (n,)."""
    n = max(int(dur * sr), 1)
    t = np.arange(n, dtype=np.float64) / sr
    phase_t = t
    if vibrato > 0:
        phase_t = t + vibrato * np.sin(2 * np.pi * 5.5 * t) / (2 * np.pi * 5.5)
    k = np.arange(1, harmonics + 1, dtype=np.float64)
    k = k[k * freq < 0.45 * sr]
    if k.size == 0:  # even the fundamental is above Nyquist at this rate
        return np.zeros(n)
    amps = 1.0 / k**rolloff
    phases = rng.uniform(0, 2 * np.pi, size=k.size)
    wave = (amps[:, None] * np.sin(2 * np.pi * freq * k[:, None] * phase_t + phases[:, None])).sum(0)
    env = np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / max(decay, 1e-4))
    release = min(n, int(0.01 * sr))
    env[n - release :] *= np.linspace(1.0, 0.0, release)
    return wave * env / amps.sum()


def _kick(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.35 * sr)) / sr
    freq = 45 + rng.uniform(70, 120) * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.12)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    noise = np.diff(rng.standard_normal(t.size + 1))
    body = np.sin(2 * np.pi * rng.uniform(170, 220) * t)
    return 0.6 * noise * np.exp(-t / 0.07) + 0.5 * body * np.exp(-t / 0.04)


def _hat(sr: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(min(4 * decay, 1.0) * sr) + 1) / sr
    noise = np.diff(np.diff(rng.standard_normal(t.size + 2)))
    metal = sum(np.sin(2 * np.pi * f * t) for f in (3150.0, 4780.0, 6230.0, 8420.0))
    return (0.5 * noise + 0.15 * metal) * np.exp(-t / max(decay, 1e-3))


def _add(buf: np.ndarray, start: int, sig: np.ndarray, gain: float = 1.0) -> None:
    if start >= buf.size or start < 0:
        return
    end = min(buf.size, start + sig.size)
    buf[start:end] += gain * sig[: end - start]


def _distort(x: np.ndarray, amount: float) -> np.ndarray:
    if amount <= 0:
        return x
    gain = 1.0 + 30.0 * amount
    return np.tanh(gain * x) / np.tanh(gain)


def _mutate(pattern: str, rng: np.random.Generator, p: float) -> str:
    """Flip each step with probability ``p`` (so one genre's grooves vary per track)."""
    out = []
    for ch in pattern:
        hit = ch == "X" or (ch == "x" and rng.random() < 0.5)
        if rng.random() < p:
            hit = not hit
        out.append("X" if hit else ".")
    return "".join(out)


# --- one track ---------------------------------------------------------------------------


def render_track(genre: str, *, duration: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Render one track of ``genre``; float32 array of shape (round(duration * sr),)."""
    style = STYLES[genre]
    # Occasionally borrow one element from another genre: realistic overlap.
    borrow = rng.random() < 0.2
    other = STYLES[rng.choice(sorted(STYLES))] if borrow else style
    drums_from = other if borrow and rng.random() < 0.5 else style
    timbre_from = other if borrow and drums_from is style else style

    n = round(duration * sr)
    tempo = rng.uniform(*style.tempo)
    beat = 60.0 / tempo
    step = beat / 4
    swing = rng.uniform(*style.swing)
    bars = int(np.ceil(duration / (4 * beat))) + 1
    key = int(rng.integers(40, 52))  # bass register root (E2 .. D#3)
    progression = style.progressions[int(rng.integers(len(style.progressions)))]
    scale = SCALES[style.scale]
    harmonics = int(rng.integers(timbre_from.harmonics[0], timbre_from.harmonics[1] + 1))
    rolloff = rng.uniform(*timbre_from.rolloff)
    distortion = rng.uniform(*timbre_from.distortion)

    def onset(bar: int, s: int) -> int:
        t = (bar * 16 + s) * step
        if s % 2 == 1:  # swing delays the off-beat sixteenth (8th-note swing feel)
            t += swing * step * 0.66
        return int(t * sr)

    drums = np.zeros(n)
    if drums_from.drum_level > 0:
        kick_p = _mutate(drums_from.kick, rng, 0.06)
        snare_p = _mutate(drums_from.snare, rng, 0.04)
        hat_p = _mutate(drums_from.hat, rng, 0.08)
        kick, snare = _kick(sr, rng), _snare(sr, rng)
        hat = _hat(sr, drums_from.hat_decay, rng)
        for bar in range(bars):
            for s in range(16):
                vel = rng.uniform(0.75, 1.0)
                if kick_p[s] == "X":
                    _add(drums, onset(bar, s), kick, vel)
                if snare_p[s] == "X":
                    _add(drums, onset(bar, s), snare, vel * 0.8)
                if hat_p[s] == "X":
                    _add(drums, onset(bar, s), hat, vel * 0.35)
        drums *= drums_from.drum_level

    chords = np.zeros(n)
    bass = np.zeros(n)
    lead = np.zeros(n)
    tone = dict(sr=sr, harmonics=harmonics, rolloff=rolloff, rng=rng)
    rhythm = style.chord_rhythm
    bass_tone = dict(sr=sr, harmonics=3, rolloff=2.0, rng=rng)
    for bar in range(bars):
        root_off, quality = progression[bar % len(progression)]
        root = key + root_off
        voicing = [root + 12 + iv for iv in CHORDS[quality]]
        bar_len = 16 * step
        if rhythm == "sustain":
            for note in voicing:
                _add(chords, onset(bar, 0), _tone(_midi_hz(note), bar_len, attack=0.3 * bar_len,
                                                  decay=bar_len, **tone), 0.5)
        elif rhythm == "arpeggio":
            for s in range(0, 16, 2):
                note = voicing[(s // 2) % len(voicing)] + 12 * ((s // 2) // len(voicing) % 2)
                _add(chords, onset(bar, s), _tone(_midi_hz(note), 3 * step, attack=0.02,
                                                  decay=2 * step, vibrato=0.002, **tone), 0.7)
        else:
            if rhythm == "stab":
                steps = [2, 6, 10, 14] if rng.random() < 0.5 else [3, 6, 11, 14]
                length, decay = 1.5 * step, 0.6 * step
            elif rhythm == "skank":
                steps, length, decay = [4, 12], 1.2 * step, 0.4 * step
            elif rhythm == "strum":
                steps, length, decay = list(range(0, 16, 2)), 2 * step, 1.5 * step
            elif rhythm == "chug":
                steps = [s for s in range(16) if rng.random() < 0.85]
                length, decay = step, 0.35 * step
            else:  # comp: a few syncopated hits
                steps = sorted(rng.choice(16, size=int(rng.integers(2, 5)), replace=False))
                length, decay = 2 * step, step
            for s in steps:
                for note in voicing:
                    _add(chords, onset(bar, int(s)), _tone(_midi_hz(note), length, attack=0.005,
                                                           decay=decay, **tone), 0.45)

        bass_style = style.bass
        if bass_style == "sustain":
            events = [(0, root, bar_len)]
        elif bass_style == "root":
            events = [(s, root, 4 * step) for s in (0, 4, 8, 12)]
        elif bass_style == "octave":
            events = [(s, root + 12 * ((s // 2) % 2), 1.5 * step) for s in range(0, 16, 2)]
        elif bass_style == "walking":
            tones = [root, root + CHORDS[quality][1], root + 7, root + int(rng.choice([-1, 1, 10]))]
            events = [(s, tones[i], 3.5 * step) for i, s in enumerate((0, 4, 8, 12))]
        elif bass_style == "sub":
            events = [(s, root - 12 if root > 45 else root, 6 * step) for s in (0, 10)]
        elif bass_style == "dub":
            events = [(0, root, 3 * step), (3, root + 7, 2 * step), (6, root, 2 * step),
                      (8, root + 12, 3 * step)]
        else:  # follow: driving eighths
            events = [(s, root, 2 * step) for s in range(0, 16, 2)]
        for s, note, length in events:
            _add(bass, onset(bar, s), _tone(_midi_hz(note), length, attack=0.005,
                                            decay=length, **bass_tone), 0.8)

        n_lead = rng.poisson(rng.uniform(*style.lead_notes_per_bar))
        for s in sorted(rng.choice(16, size=min(int(n_lead), 16), replace=False)):
            degree = int(rng.integers(len(scale)))
            note = key + 24 + scale[degree] + 12 * int(rng.random() < 0.3)
            _add(lead, onset(bar, int(s)), _tone(_midi_hz(note), 3 * step, attack=0.01,
                                                 decay=2 * step, vibrato=0.003, **tone), 0.5)

    music = _distort(0.6 * chords + 0.4 * lead, distortion) + 0.7 * bass + drums
    music /= np.max(np.abs(music)) + 1e-9
    noise_level = rng.uniform(*style.noise)
    music += noise_level * rng.standard_normal(n)
    if genre == "hiphop":  # vinyl crackle
        clicks = rng.random(n) < 20.0 / sr
        music += 0.3 * clicks * rng.standard_normal(n)
    loudness = rng.uniform(0.4, 0.95)
    music *= loudness / (np.max(np.abs(music)) + 1e-9)
    return music.astype(np.float32)


def make_lyrics(genre: str, language: str, rng: np.random.Generator, *, topic_share: float = 0.2) -> str:
    """A few verses and a repeated chorus; about ``topic_share`` of words are genre words."""
    common = COMMON_WORDS[language]
    topic = TOPIC_WORDS[language][genre]

    def line() -> str:
        words = [
            str(rng.choice(topic)) if rng.random() < topic_share else str(rng.choice(common))
            for _ in range(int(rng.integers(4, 9)))
        ]
        return " ".join(words)

    chorus = [line() for _ in range(2)]
    verses = []
    for _ in range(int(rng.integers(2, 4))):
        verses.append("\n".join(line() for _ in range(int(rng.integers(3, 6)))))
        verses.append("\n".join(chorus))
    return "\n\n".join(verses)


def track_rng(seed: int, genre: str, track_index: int) -> np.random.Generator:
    """An independent generator per track, derived from the corpus seed and the genre's
    *name*, so a track never changes when genres are added, removed or reordered."""
    return np.random.default_rng([seed, zlib.crc32(genre.encode("utf-8")), track_index])


def generate_track(
    genre: str, index: int, *, languages: tuple[str, ...],
    duration: float, sr: int, instrumental_fraction: float, seed: int,
) -> SyntheticTrack:
    """Generate track number ``index`` of ``genre``, reproducibly from ``seed``."""
    if genre not in STYLES:
        raise ValueError(f"no synthetic style for genre {genre!r}; known: {sorted(STYLES)}")
    rng = track_rng(seed, genre, index)
    language = str(languages[int(rng.integers(len(languages)))])
    instrumental_p = 0.85 if genre == "classical" else instrumental_fraction
    instrumental = rng.random() < instrumental_p
    lyrics = None if instrumental else make_lyrics(genre, language, rng)
    audio = render_track(genre, duration=duration, sr=sr, rng=rng)
    return SyntheticTrack(f"{genre}.{index:05d}", genre, language, lyrics, audio)
