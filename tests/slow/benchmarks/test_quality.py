"""benchmarks/quality.py runs the real stages on a small Kaggle-format table and reports
every model and every baseline over several seeds."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from genrevae.features.audio import handcrafted_columns

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """features_30_sec style: 3 genres x 24 tracks whose feature means differ by genre."""
    rng = np.random.default_rng(0)
    columns = handcrafted_columns()
    rows = []
    for genre in ("blues", "jazz", "rock"):
        centre = rng.normal(scale=2.0, size=len(columns))
        for i in range(24):
            feats = centre + rng.normal(size=len(columns))
            rows.append({"filename": f"{genre}.{i:05d}.wav", "length": 661794,
                         **dict(zip(columns, feats, strict=True)), "label": genre})
    path = tmp_path_factory.mktemp("quality") / "features_30_sec.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _run(*args: str, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=600)


def test_reports_models_and_baselines_over_seeds(table, tmp_path):
    proc = _run("--table", str(table), "--models", "vae,ae", "--seeds", "1,2", "--epochs", "3",
                "--latent-dim", "4", workdir=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.startswith("{")]
    assert [r["model"] for r in lines] == ["vae", "ae", "raw", "pca", "pca_white"]
    for r in lines:
        assert r["seeds"] == 2
        for key in ("nmi", "ami", "ari", "probe_track_acc"):
            assert 0.0 <= r[f"{key}_sd"] and -1.0 <= r[key] <= 1.0
        if r["model"] in ("vae", "ae"):
            assert all(0 <= r[f"{k}_wins"] <= 2 for k in ("nmi", "ami", "ari", "probe_track_acc"))
    # Three well separated genres: the raw features are probed almost perfectly.
    assert lines[2]["probe_track_acc"] > 0.8
    for r in lines:
        for key in ("nmi", "ami", "ari", "probe_track_acc"):
            assert len(r["per_seed"][key]) == 2
            assert r[key] == pytest.approx(np.mean(r["per_seed"][key]), abs=1e-4)
    # The last seed's run is left in the workdir: its baselines are the ones reported.
    last = json.loads((tmp_path / "metrics" / "eval.json").read_text())
    assert last["raw"]["probe"]["track_accuracy"] == pytest.approx(
        lines[2]["per_seed"]["probe_track_acc"][-1], abs=1e-4)
    # NMI is the track level's: K-Means on track means, test tracks.
    assert last["pca"]["track"]["mean"]["test"]["nmi_genre"] == pytest.approx(
        lines[3]["per_seed"]["nmi"][-1], abs=1e-4)
    assert last["pca_white"]["track"]["mean"]["test"]["ari_genre"] == pytest.approx(
        lines[4]["per_seed"]["ari"][-1], abs=1e-4)
    # AMI beside NMI, from the same clusters.
    assert last["pca"]["track"]["mean"]["test"]["ami_genre"] == pytest.approx(
        lines[3]["per_seed"]["ami"][-1], abs=1e-4)
    assert " AMI " in proc.stdout
    assert "mean ± sd over seeds" in proc.stdout
    # Margins are paired: per seed, the model minus the best baseline of that seed.
    bases = [r["per_seed"] for r in lines[2:]]
    for r in lines[:2]:
        for key in ("nmi", "ami", "ari", "probe_track_acc"):
            margins = [m - max(b[key][i] for b in bases)
                       for i, m in enumerate(r["per_seed"][key])]
            assert r[f"{key}_wins"] == sum(m > 0 for m in margins)
            assert r[f"{key}_margin"] == pytest.approx(np.mean(margins), abs=1e-3)
            low, high = r[f"{key}_margin_ci"]
            half = stats.t.ppf(0.975, df=1) * np.std(margins, ddof=1) / np.sqrt(2)
            assert low == pytest.approx(np.mean(margins) - half, abs=1e-3)
            assert high == pytest.approx(np.mean(margins) + half, abs=1e-3)
    assert "margin over the better baseline" in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--models", "conv_vae"), "--models"),
    (("--seeds", "1,x"), "--seeds"),
])
def test_bad_arguments_are_refused_naming_the_option(table, tmp_path, args, message):
    proc = _run("--table", str(table), *args, workdir=tmp_path)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_table_is_refused(tmp_path):
    proc = _run("--table", str(tmp_path / "absent.csv"), workdir=tmp_path)
    assert proc.returncode != 0 and "--table" in proc.stderr and "not found" in proc.stderr


def test_one_seed_has_a_margin_but_no_interval(capsys):
    """A single split has no spread: the interval is null in the JSON and said in the table."""
    spec = importlib.util.spec_from_file_location("quality", SCRIPT)
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    runs = {"vae": [{"nmi": 0.5, "ami": 0.1, "ari": 0.2, "probe_track_acc": 0.6}],
            "raw": [{"nmi": 0.4, "ami": 0.2, "ari": 0.3, "probe_track_acc": 0.7}],
            "pca": [{"nmi": 0.45, "ami": 0.05, "ari": 0.1, "probe_track_acc": 0.5}],
            "pca_white": [{"nmi": 0.3, "ami": 0.0, "ari": 0.35, "probe_track_acc": 0.4}]}
    rows = quality.summarise(runs, ["vae"], {"vae": ["raw", "pca", "pca_white"]})
    vae = rows[0]
    assert vae["nmi_margin"] == pytest.approx(0.05) and vae["nmi_wins"] == 1
    assert vae["ari_margin"] == pytest.approx(-0.15) and vae["ari_wins"] == 0  # pca_white's
    assert vae["probe_track_acc_margin"] == pytest.approx(-0.1)
    assert vae["ami_margin"] == pytest.approx(-0.1) and vae["ami_wins"] == 0  # raw's
    assert all(vae[f"{k}_margin_ci"] is None for k in ("nmi", "ami", "ari", "probe_track_acc"))
    assert "null" in json.dumps(vae) and "NaN" not in json.dumps(vae)
    quality.print_table(rows, [], "one seed")
    assert "[one seed]" in capsys.readouterr().out


def _quality_module():
    spec = importlib.util.spec_from_file_location("quality", SCRIPT)
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    return quality


def test_paired_difference_is_seed_by_seed():
    quality = _quality_module()
    runs = {"a": [{"nmi": 0.5, "nmi_lang": 0.1}, {"nmi": 0.7, "nmi_lang": None}],
            "b": [{"nmi": 0.4, "nmi_lang": 0.3}, {"nmi": 0.5, "nmi_lang": 0.2}]}
    for r in (*runs["a"], *runs["b"]):
        r.update(ari=0.0, probe_track_acc=0.0)
    diff = quality.paired(runs, "a", "b")
    assert diff["nmi_per_seed"] == [pytest.approx(0.1), pytest.approx(0.2)]
    assert diff["nmi"] == pytest.approx(0.15)
    half = stats.t.ppf(0.975, df=1) * np.std([0.1, 0.2], ddof=1) / np.sqrt(2)
    assert diff["nmi_ci"] == [pytest.approx(0.15 - half, abs=1e-4),
                              pytest.approx(0.15 + half, abs=1e-4)]
    # A seed without a language NMI (one language) is left out, not counted as zero.
    assert diff["nmi_lang_per_seed"] == [pytest.approx(-0.2)] and diff["nmi_lang_ci"] is None


def _language_workdir(tmp_path: Path, languages: list[str], genres: list[str],
                      clusters: list[int]) -> Path:
    """A run's folder as language_reference reads it: params.yaml naming the manifest and
    the track clusters, with the given test tracks and two train tracks."""
    import yaml

    n = len(languages)
    ids = [f"t{i}" for i in range(n + 2)]
    split = ["train", "train"] + ["test"] * n
    pd.DataFrame({"track_id": ids, "split": split, "genre": ["x", "y", *genres],
                  "language": ["en", "de", *languages]}).to_csv(tmp_path / "m.csv", index=False)
    pd.DataFrame({"track_id": ids, "split": split,
                  "latent.kmeans": [0, 1, *clusters]}).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"paths": {"manifest": "m.csv", "track_assignments": "t.csv"},
         "evaluate": {"target": "genre"}}))
    return tmp_path


def test_language_nmi_references_genre_itself_and_chance(tmp_path):
    quality = _quality_module()
    rng = np.random.default_rng(0)
    languages = list(rng.choice(["en", "de"], size=60))
    # Genre follows language exactly: a clustering that is exactly genre scores 1 against
    # language; shuffled clusters score near 0.
    genres = ["rock" if lang == "en" else "pop" for lang in languages]
    ref = quality.language_reference(
        _language_workdir(tmp_path, languages, genres, list(rng.integers(0, 4, size=60))),
        seed=3)
    assert ref["of_genre"] == pytest.approx(1.0)
    assert 0 < ref["chance"] < 0.1
    # Only the test tracks count: one language among them gives nothing to score against.
    one = quality.language_reference(
        _language_workdir(tmp_path, ["en"] * 5, ["rock", "pop"] * 2 + ["pop"], [0, 1, 0, 1, 2]),
        seed=3)
    assert one == {"of_genre": None, "chance": None}


def test_conv_vae_reads_the_log_mel_whatever_the_inputs():
    assert _quality_module().plan(["vae", "conv_vae"], ["audio", "hybrid"]) == [
        ("vae", "audio"), ("vae", "hybrid"), ("conv_vae", "mel")]


def test_a_listed_split_is_the_same_in_every_seed(table, tmp_path):
    lists = tmp_path / "split"
    lists.mkdir()
    ids = {g: [f"{g}.{i:05d}" for i in range(24)] for g in ("blues", "jazz", "rock")}
    for name, part in (("train", slice(0, 14)), ("val", slice(14, 18)), ("test", slice(18, 24))):
        (lists / f"{name}.txt").write_text("".join(f"{g}/{t}.wav\n" for g in ids
                                                   for t in ids[g][part]))
    proc = _run("--table", str(table), "--models", "vae", "--seeds", "1,2", "--epochs", "2",
                "--latent-dim", "4", "-o", f"data.split={lists}",
                "-o", "fuse.audio_transform=yeo_johnson", workdir=tmp_path / "w")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.startswith("{")]
    assert {r["split"] for r in lines} == {str(lists)}
    assert f"split {lists} (fixed; seeds vary the initialisation)" in proc.stdout
    assert "audio transform yeo_johnson" in proc.stdout
    scalers = json.loads((tmp_path / "w" / "data" / "features" / "fused" / "scalers.json")
                         .read_text())
    assert len(scalers["audio_lambdas"]) == 57
    manifest = pd.read_csv(tmp_path / "w" / "data" / "prepared" / "manifest.csv")
    assert (manifest["split"] == "test").sum() == 18
    # The raw input's probe does not depend on the seed once the split is fixed.
    raw = next(r for r in lines if r["model"] == "raw")
    assert raw["per_seed"]["probe_track_acc"][0] == raw["per_seed"]["probe_track_acc"][1]


def _write_lists(folder: Path, parts: dict[str, slice]) -> dict[str, list[str]]:
    """Split lists of the ``table`` fixture's ids, the same slice of every genre per list."""
    folder.mkdir()
    ids = {g: [f"{g}.{i:05d}" for i in range(24)] for g in ("blues", "jazz", "rock")}
    listed = {name: [t for g in ids for t in ids[g][part]] for name, part in parts.items()}
    for name, entries in listed.items():
        (folder / f"{name}.txt").write_text("".join(f"{t}\n" for t in entries))
    return listed


def test_on_validation_scores_halves_of_the_val_tracks_and_never_the_test_tracks(table,
                                                                                  tmp_path):
    listed = _write_lists(tmp_path / "split", {"train": slice(0, 14), "val": slice(14, 20),
                                                "test": slice(20, 24)})
    proc = _run("--table", str(table), "--models", "vae", "--seeds", "1,2", "--epochs", "2",
                "--latent-dim", "4", "-o", f"data.split={tmp_path / 'split'}",
                "--on-validation", workdir=tmp_path / "w")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.startswith("{")]
    assert {(r["split"], r["scored_on"]) for r in lines} == {(str(tmp_path / "split"), "val")}
    assert all(r["seeds"] == 2 for r in lines)
    assert "scored on the val tracks, not the test tracks" in proc.stdout
    for seed in (1, 2):
        folders = tmp_path / "w" / "validation" / f"seed{seed}"
        lists = {(half, name): (folders / half / f"{name}.txt").read_text().split()
                 for half in "AB" for name in ("train", "val", "test")}
        assert lists["A", "train"] == lists["B", "train"] == listed["train"]
        assert lists["A", "val"] == lists["B", "test"] and lists["A", "test"] == lists["B", "val"]
        assert sorted(lists["A", "val"] + lists["A", "test"]) == sorted(listed["val"])
        # Six val tracks a genre, one track a group: three a genre in each half.
        for half in ("A", "B"):
            genres = pd.Series([t.split(".")[0] for t in lists[half, "test"]]).value_counts()
            assert genres.to_dict() == {"blues": 3, "jazz": 3, "rock": 3}
    # The run scored half B of the last seed; the test list's tracks were left out.
    manifest = pd.read_csv(tmp_path / "w" / "data" / "prepared" / "manifest.csv")
    assert sorted(manifest.loc[manifest["split"] == "test", "track_id"]) == sorted(
        lists["B", "test"])
    assert not set(manifest["track_id"]) & set(listed["test"])


def test_on_validation_refuses_the_embedded_corpus(tmp_path):
    proc = _run("--embedded", "--on-validation", workdir=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --on-validation:")


def test_validation_halves_keep_each_artist_whole(tmp_path):
    rows = []
    for genre in ("pop", "rock"):
        for artist in range(6):
            for song in range(1 + artist % 3):  # artists of one, two and three songs
                rows.append({"track_id": f"{genre}/a{artist}s{song}", "genre": genre,
                             "split": "val", "group": f"artist:{genre}{artist}"})
    rows += [{"track_id": f"pop/t{i}", "genre": "pop", "split": split, "group": f"t{i}"}
             for i, split in enumerate(["train"] * 5 + ["test"] * 3)]
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    (tmp_path / "params.yaml").write_text("paths:\n  manifest: manifest.csv\n"
                                          "evaluate:\n  target: genre\n")
    folder_a, folder_b = _quality_module().validation_halves(tmp_path, seed=3)
    half_a = (folder_a / "test.txt").read_text().split()
    half_b = (folder_b / "test.txt").read_text().split()
    group = {r["track_id"]: r["group"] for r in rows}
    assert not {group[t] for t in half_a} & {group[t] for t in half_b}
    assert sorted(half_a + half_b) == sorted(r["track_id"] for r in rows if r["split"] == "val")
    for genre in ("pop", "rock"):  # 12 songs a genre, dealt by artist: 6 and 6
        assert sum(t.startswith(genre) for t in half_a) == 6
    assert (folder_a / "train.txt").read_text().split() == [f"pop/t{i}" for i in range(5)]
    assert "pop/t5" not in half_a + half_b


@pytest.fixture(scope="module")
def audio_corpus(tmp_path_factory) -> tuple[Path, Path]:
    """A folder corpus (3 genres x 6 tracks of 6 s) and its lyrics table, with an artist per
    pair of tracks and two languages."""
    import soundfile as sf

    from genrevae.data.synthetic import generate_track

    root = tmp_path_factory.mktemp("audio") / "music"
    rows = []
    for genre in ("blues", "classical", "metal"):
        for i in range(6):
            t = generate_track(genre, i, languages=("english", "bangla"), duration=6.0, sr=22050,
                               instrumental_fraction=0.0, seed=5)
            (root / genre).mkdir(parents=True, exist_ok=True)
            sf.write(root / genre / f"{t.track_id}.wav", t.audio, 22050, subtype="PCM_16")
            rows.append({"track_id": t.track_id, "artist": f"{genre} band {i // 2}",
                         "language": t.language, "lyrics": t.lyrics or f"{genre} la la"})
    table = root.parent / "lyrics.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return root, table


def test_an_audio_corpus_reports_inputs_comparisons_and_the_lyrics_alone(audio_corpus, tmp_path):
    root, lyrics = audio_corpus
    proc = _run("--root", str(root), "--lyrics", str(lyrics), "--models", "vae",
                "--inputs", "audio,hybrid", "--seeds", "1,2", "--epochs", "2", "--latent-dim", "4",
                "-o", "lyrics.dim=4", "--compare", "vae/hybrid,vae/audio", workdir=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.startswith("{")]
    rows = {r["model"]: r for r in lines if "model" in r}
    assert list(rows) == ["vae/audio", "vae/hybrid", "raw/audio", "pca/audio", "pca_white/audio",
                          "raw/hybrid", "pca/hybrid", "pca_white/hybrid"]
    # Each model is measured against the baselines of its own input.
    hybrid = rows["vae/hybrid"]["per_seed"]["nmi"]
    best = [max(v) for v in zip(*(rows[f"{b}/hybrid"]["per_seed"]["nmi"]
                                  for b in ("raw", "pca", "pca_white")), strict=True)]
    assert rows["vae/hybrid"]["nmi_margin"] == pytest.approx(
        np.mean(np.subtract(hybrid, best)), abs=1e-3)
    assert all(r["nmi_lang"] is not None for r in rows.values())  # two languages
    (diff,) = [r for r in lines if "compare" in r]
    assert diff["compare"] == "vae/hybrid - vae/audio"
    assert diff["nmi_per_seed"] == pytest.approx(
        np.subtract(hybrid, rows["vae/audio"]["per_seed"]["nmi"]), abs=1e-3)
    manifest = pd.read_csv(tmp_path / "data" / "prepared" / "manifest.csv")
    assert (manifest.groupby("artist")["split"].nunique() == 1).all()
    assert "split drawn by each seed" in proc.stdout
    (leak,) = [r["lyrics_alone"] for r in lines if "lyrics_alone" in r]
    assert len(leak["lyrics_genre_acc"]) == 2 and "lyrics alone" in proc.stdout
    # Genre inside each language, beside each language's most common genre, per seed.
    assert len(leak["lyrics_genre_within_language_acc"]) == 2
    assert all(v is not None and 0.0 <= v <= 1.0 for v in leak["language_majority_genre_acc"])
    assert "genre within each language" in proc.stdout
    # Both languages are among the test tracks of each seed here.
    (ref,) = [r["language_nmi_reference"] for r in lines if "language_nmi_reference" in r]
    assert len(ref["of_genre"]) == len(ref["chance"]) == 2 and "genre itself" in proc.stdout


def test_the_embedded_corpus_is_generated_by_each_seed(tmp_path):
    proc = _run("--embedded", "--models", "vae", "--inputs", "audio", "--seeds", "3,4",
                "-o", "experiment=tiny", workdir=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded corpus: 16 tracks, 4 genres" in proc.stdout
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.startswith("{")]
    rows = {r["model"]: r for r in lines if "model" in r}
    assert list(rows) == ["vae", "raw", "pca", "pca_white"]
    assert all(len(r["per_seed"]["nmi"]) == 2 for r in rows.values())
    # The generated tracks have two languages, so the clusters are scored against them too.
    assert rows["vae"]["nmi_lang"] is not None


def test_embedded_and_root_are_one_choice(tmp_path):
    proc = _run("--embedded", "--root", str(tmp_path), workdir=tmp_path)
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
