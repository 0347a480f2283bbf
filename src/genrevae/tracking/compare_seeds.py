"""Seeds as an axis of `genrevae compare`: runs that differ only in ``seed`` form one
configuration; each configuration's scores are a mean and a 95 % t-interval over its seeds,
and two configurations are compared on the seeds they share, paired by seed.

A single seed says little: on a small test set the headline of one configuration moves by
more between seeds than between configurations. So the text calls a configuration better
only when the paired interval of the difference lies above zero, on seeds whose test set is
not flagged as too small, and on the same data.

This module works on plain :class:`RunRecord` values (no MLflow), so the arithmetic can be
checked on its own; :mod:`genrevae.tracking.compare` reads the records from the store.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from genrevae.errors import GenreVAEError

# Params that say how a run was executed or drawn, not what was measured: runs that differ
# only in these (and in the seed) are one configuration.
BOOKKEEPING = frozenset({
    "seed", "features.n_jobs", "features.device", "features.engine", "features.scheduler",
    "train.device", "evaluate.tsne_perplexity", "evaluate.max_plot_points",
    "evaluate.n_reconstructions",
})
BOOKKEEPING_PREFIXES = ("paths.",)
# Headline scores summarised per configuration; each has a margin over its better baseline.
SCORES = ("nmi", "ami", "ari", "probe")
CONFIDENCE = 0.95
WIDTH = 100  # the terminal the text is laid out for


def is_bookkeeping(param: str) -> bool:
    return param in BOOKKEEPING or param.startswith(BOOKKEEPING_PREFIXES)


@dataclass(frozen=True)
class DataSet:
    """What a run was scored on: the source, its root, and the manifest's size. The
    manifest digest is kept apart (:attr:`RunRecord.digest`): a random split is drawn from
    the seed, so the manifest of each seed differs even on the same data."""

    name: str
    root: str
    tracks: str = ""
    genres: str = ""

    def describe(self) -> str:
        size = ", ".join(f"{n} {what}" for n, what in ((self.tracks, "tracks"),
                                                       (self.genres, "genres")) if n)
        return f"{self.name or '?'}, root {self.root or '-'}" + (f", {size}" if size else "")


@dataclass(frozen=True)
class RunRecord:
    """One finished run as compare reads it."""

    name: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    data: DataSet
    digest: str = ""  # the manifest's digest (MLflow dataset input), "" when not logged
    small: bool = False  # its test set was flagged too small to say anything
    commit: str = ""

    @property
    def seed(self) -> str:
        return self.params.get("seed", "")

    def value(self, key: str) -> float | None:
        v = self.metrics.get(key)
        return None if v is None or not math.isfinite(v) else float(v)

    def margin(self, score: str) -> float | None:
        """The score minus its better baseline's: the run's ``<score>_gain`` where logged."""
        gain = self.value(f"{score}_gain")
        if gain is not None:
            return gain
        value, base = self.value(score), self.value(f"{score}_base")
        return None if value is None or base is None else value - base

    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, v) for k, v in self.params.items() if not is_bookkeeping(k)))


@dataclass
class Configuration:
    letter: str
    params: Mapping[str, str]  # the params that identify it (bookkeeping left out)
    data: DataSet
    runs: list[RunRecord]  # one per seed (the newest), in seed order
    set_aside: list[RunRecord] = field(default_factory=list)  # older runs of the same seeds
    label: str = ""

    @property
    def flagged_only(self) -> bool:
        """Every run has a small test set: then its summary is over them, marked."""
        return all(r.small for r in self.runs)

    @property
    def summarised(self) -> list[RunRecord]:
        """The runs its means are over: those whose test set is not flagged small (all of
        them when every one is)."""
        return self.runs if self.flagged_only else [r for r in self.runs if not r.small]

    def by_seed(self) -> dict[str, RunRecord]:
        return {r.seed: r for r in self.runs}


@dataclass(frozen=True)
class Interval:
    mean: float
    n: int
    low: float | None = None  # None with a single value: no interval
    high: float | None = None

    @property
    def above_zero(self) -> bool:
        return self.low is not None and self.low > 0

    @property
    def below_zero(self) -> bool:
        return self.high is not None and self.high < 0


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """Mean and two-sided t-interval (n - 1 degrees of freedom); None without values."""
    from scipy import stats

    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return None
    mean = sum(xs) / n
    if n == 1:
        return Interval(mean, 1)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, n, mean - half, mean + half)


def _seed_order(seed: str) -> tuple[int, float, str]:
    try:
        return (0, float(seed), seed)
    except ValueError:
        return (1, 0.0, seed)


def _names(runs: Sequence[RunRecord], at_most: int = 6) -> str:
    shown = ", ".join(r.name for r in runs[:at_most])
    return shown + (f" and {len(runs) - at_most} more" if len(runs) > at_most else "")


def group(runs: Sequence[RunRecord], *, allow_mixed_data: bool = False) -> list[Configuration]:
    """Runs (oldest first) into configurations, in order of first appearance. Raises a
    :class:`GenreVAEError` naming the runs when runs on different data would be aggregated
    or compared, unless ``allow_mixed_data`` (then data splits configurations apart)."""
    keyed: dict[tuple, list[RunRecord]] = {}
    for run in runs:
        keyed.setdefault(run.key(), []).append(run)
    groups: list[tuple[tuple, DataSet, list[RunRecord]]] = []
    for key, members in keyed.items():
        datas = list(dict.fromkeys(r.data for r in members))
        if len(datas) > 1 and not allow_mixed_data:
            apart = "; ".join(f"{_names([r for r in members if r.data == d])} on "
                              f"{d.describe()}" for d in datas)
            raise GenreVAEError(f"runs with the same params but for seed were scored on "
                                f"different data ({apart}); name the runs to compare, or "
                                "pass --allow-mixed-data to show them apart")
        groups.extend((key, d, [r for r in members if r.data == d]) for d in datas)
    _check_same_seed_digests(runs, allow_mixed_data)
    all_data = list(dict.fromkeys(d for _, d, _ in groups))
    if len(all_data) > 1 and not allow_mixed_data:
        apart = "; ".join(f"{_names([r for _, d, rs in groups if d == data for r in rs])} on "
                          f"{data.describe()}" for data in all_data)
        raise GenreVAEError(f"the runs were scored on different data ({apart}); name the "
                            "runs to compare, or pass --allow-mixed-data")
    configs = []
    for i, (key, data, members) in enumerate(groups):
        newest: dict[str, RunRecord] = {}
        for run in members:  # oldest first: a later run of the same seed replaces it
            newest[run.seed] = run
        kept = sorted(newest.values(), key=lambda r: _seed_order(r.seed))
        configs.append(Configuration(_letter(i), dict(key), data, kept,
                                     [r for r in members if newest[r.seed] is not r]))
    _label(configs)
    return configs


def _check_same_seed_digests(runs: Sequence[RunRecord], allow_mixed_data: bool) -> None:
    """Runs of one seed whose data params agree draw the same split of the same tracks, so
    their manifests must be identical; different digests mean the data changed between
    them (files added or replaced under the same root)."""
    def data_params(run: RunRecord) -> tuple:
        return (run.seed, run.data, tuple(sorted((k, v) for k, v in run.params.items()
                                                 if k.startswith("data."))))
    by: dict[tuple, list[RunRecord]] = {}
    for run in runs:
        if run.digest:
            by.setdefault(data_params(run), []).append(run)
    for members in by.values():
        digests = list(dict.fromkeys(r.digest for r in members))
        if len(digests) > 1 and not allow_mixed_data:
            apart = "; ".join(f"{_names([r for r in members if r.digest == d])} manifest {d}"
                              for d in digests)
            raise GenreVAEError(f"runs of seed {members[0].seed} on {members[0].data.name} "
                                f"read different manifests ({apart}): the data changed "
                                "between them; name the runs to compare, or pass "
                                "--allow-mixed-data")


def _letter(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i] if i < len(letters) else f"C{i + 1}"


def differing(params: Sequence[Mapping[str, str]]) -> list[str]:
    """The keys, sorted, whose values are not the same in all of ``params`` (a key some
    lack counts as differing); bookkeeping, the seed among it, left out."""
    keys = sorted({k for p in params for k in p if not is_bookkeeping(k)})
    return [k for k in keys if len({p.get(k) for p in params}) > 1]


def _label(configs: Sequence[Configuration]) -> None:
    """Each configuration's label, its params column: the params in which the
    configurations differ (with one configuration, what model it is)."""
    keys = sorted({k for c in configs for k in c.params})
    differ = differing([c.params for c in configs])
    shown = differ or [k for k in ("model.name", "model.input", "latent_dim") if k in keys]
    for c in configs:
        c.label = " ".join(f"{k}={c.params.get(k, '-')}" for k in shown)
        if len({x.data for x in configs}) > 1 and "data.name" not in differ:
            c.label += f" [{c.data.describe()}]"


@dataclass(frozen=True)
class Pair:
    first: Configuration  # the difference is second - first
    second: Configuration
    seeds: list[str]  # the shared seeds the differences are over
    left_out: list[str]  # shared seeds left out: a small test set in either run
    diffs: dict[str, Interval | None]
    same_data: bool
    judged: bool = True  # False: every shared seed has a small test set (shown, not judged)

    def verdict(self, score: str) -> str | None:
        """``"X beats Y"`` when the paired interval of ``score`` lies off zero, else None."""
        iv = self.diffs.get(score)
        if not (self.same_data and self.judged) or iv is None or len(self.seeds) < 2:
            return None
        if iv.above_zero:
            return f"{self.second.letter} beats {self.first.letter}"
        if iv.below_zero:
            return f"{self.first.letter} beats {self.second.letter}"
        return None


def pairs(configs: Sequence[Configuration], scores: Sequence[str] = SCORES) -> list[Pair]:
    """Paired differences (second - first, per seed) of every two configurations, over the
    seeds both ran whose test sets are not flagged small (all shared seeds, not judged,
    when each has a flagged run)."""
    out = []
    for a, b in itertools.combinations(configs, 2):
        ra, rb = a.by_seed(), b.by_seed()
        shared = sorted(set(ra) & set(rb), key=_seed_order)
        judged = [s for s in shared if not (ra[s].small or rb[s].small)]
        used = judged or shared
        diffs = {}
        for score in scores:
            values = [rb[s].value(score) - ra[s].value(score) for s in used
                      if rb[s].value(score) is not None and ra[s].value(score) is not None]
            diffs[score] = t_interval(values)
        out.append(Pair(a, b, used, [s for s in shared if s not in used], diffs,
                        a.data == b.data, judged=bool(judged)))
    return out


def verdict(all_pairs: Sequence[Pair], score: str) -> str:
    found = [v for p in all_pairs if (v := p.verdict(score))]
    if not found:
        return "no configuration is better on these seeds"
    return "; ".join(found) + (" (no other pair differs on these seeds)"
                               if len(found) < len(all_pairs) else "")


# --- text -----------------------------------------------------------------------------------


def _num(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def _interval_text(iv: Interval | None, signed: bool = False) -> str:
    """``mean  [low, high]`` in fixed columns; ``(one seed)`` where there is no interval."""
    if iv is None:
        return f"{'-':>7}  {'':<18}"
    bounds = ("(one seed)" if iv.low is None
              else f"[{_num(iv.low, signed)}, {_num(iv.high, signed)}]")
    return f"{_num(iv.mean, signed):>7}  {bounds:<18}"


def wrap(head: str, text: str, width: int = WIDTH) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=head,
                         subsequent_indent=" " * (len(head) or 2)) or [head]


def _range(values: Sequence[float | None]) -> str:
    got = sorted({int(v) for v in values if v is not None})
    if not got:
        return "-"
    return str(got[0]) if len(got) == 1 else f"{got[0]}-{got[-1]}"


def format_configurations(configs: Sequence[Configuration], all_pairs: Sequence[Pair],
                          score: str) -> str:
    # A table, a sweep (-S latent_dim=16,32 -S seed=0,1,2) one row per value swept: the
    # params column is what the configurations differ in, at most half the width.
    cfg_w = max([3, *(len(c.letter) for c in configs)])
    params_w = min(max([len("params"), *(len(c.label) for c in configs)]), WIDTH // 2)
    lines = ["configurations (runs that differ only in seed):",
             f"  {'cfg':<{cfg_w}}  {'params':<{params_w}}  seeds; test set"]
    for c in configs:
        seeds = ",".join(r.seed or "?" for r in c.runs)  # "?": a run that logged no seed
        small = sum(r.small for r in c.runs)
        test = (f"test {_range([r.value('n_test') for r in c.runs])} tracks, "
                f"{_range([r.value('n_genres') for r in c.runs])} genres")
        tail = f"  {len(c.runs)} seed{'s' * (len(c.runs) != 1)} ({seeds}); {test}"
        if small:
            tail += f"; {small} small!"
        head, label = f"  {c.letter:<{cfg_w}}  ", c.label or "-"
        if len(label) <= params_w:
            lines += wrap(head, label.ljust(params_w) + tail)
        else:  # the label on lines of its own, the rest below in its column
            lines += wrap(head, label) + wrap(" " * (len(head) + params_w + 2), tail.strip())
    for data in dict.fromkeys(c.data for c in configs):
        members = [c for c in configs if c.data == data]
        digests = list(dict.fromkeys(r.digest for c in members for r in c.runs if r.digest))
        manifest = ("manifest -" if not digests else f"manifest {digests[0]}"
                    if len(digests) == 1 else f"{len(digests)} manifests (one split per seed)")
        lines += wrap(f"  data of {','.join(c.letter for c in members)}: ",
                       f"{data.describe()}; {manifest}")
    commits = list(dict.fromkeys(r.commit[:7] for c in configs for r in c.runs if r.commit))
    if commits:
        lines += wrap("  code: ", "commit " + ", ".join(commits))
    lines += ["", *wrap("", f"mean over seeds and its {CONFIDENCE:.0%} t-interval (over the "
                        "seeds without a small test set; cfg! when every seed has one); "
                        "margin = score minus the better baseline, paired by seed"), ""]
    lines.append(f"  {'cfg':<4}{'n':>2}  {'score':<6}{'mean':>7}  {'[interval]':<18}"
                 f"{'margin':>7}  [interval]")
    for c in configs:
        for i, s in enumerate(SCORES):
            values = [v for r in c.summarised if (v := r.value(s)) is not None]
            margins = [v for r in c.summarised if (v := r.margin(s)) is not None]
            head = (f"  {c.letter + '!' * c.flagged_only:<4}{len(c.summarised):>2}  "
                    if i == 0 else " " * 10)
            lines.append(f"{head}{s:<6}{_interval_text(t_interval(values))}"
                         f"{_interval_text(t_interval(margins), signed=True)}".rstrip())
    if all_pairs:
        lines += ["", "paired differences on shared seeds (second minus first, seed by seed):"]
        for p in all_pairs:
            head = f"  {p.second.letter} - {p.first.letter}  "
            if not p.same_data:
                lines.append(head + "not compared: different data")
                continue
            if not p.seeds:
                lines.append(head + "no shared seed")
                continue
            seeds = f"seeds {','.join(s or '?' for s in p.seeds)}"
            if p.left_out:
                seeds += f" (left out, small test: {','.join(p.left_out)})"
            if not p.judged:
                seeds += " ! each with a small test set: shown, not judged"
            lines.append(head + seeds)
            lines += [f"        {s:<6}{_interval_text(p.diffs[s], signed=True)}".rstrip()
                      for s in SCORES if p.diffs[s] is not None]
        lines += ["", *wrap(f"verdict ({score}, {CONFIDENCE:.0%} paired interval above "
                             "zero): ", verdict(all_pairs, score))]
    return "\n".join(lines)
