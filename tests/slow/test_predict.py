"""`genrevae predict` against a real tiny pipeline: the stages' functions
(genrevae.pipeline) run in-process in a temporary folder on experiment=tiny, then new
songs (any rate, stereo, short, broken) are predicted, and a corpus track predicts
exactly the latent the pipeline computed for it."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml

from genrevae.cli import main as cli_main
from genrevae.serving.predict import Predictor
from tests.conftest import ROOT
from tests.pipeline import conftest as harness

# The in-process pipeline harness lives in tests/pipeline/conftest.py; its names stay
# importable from here, and the `pipeline` fixture is made this module's.
STAGES, run_stages = harness.STAGES, harness.run_stages
pipeline = harness.pipeline

GENRES = ["blues", "classical", "hiphop", "metal"]
LATENT_DIM = 4


@pytest.fixture(scope="module")
def models(pipeline: Path) -> Path:
    return pipeline / "models"


def tone(sr: int, seconds: float) -> np.ndarray:
    """Band-limited test music (below 4 kHz): a modulated tone, a sweep and bursts."""
    t = np.arange(int(sr * seconds)) / sr
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
         + 0.2 * np.sin(2 * np.pi * 1250 * t + 3 * np.sin(2 * np.pi * 0.5 * t))
         + 0.1 * np.sin(2 * np.pi * 3300 * t) * (t % 0.5 < 0.1))
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> dict[str, Path]:
    """Generated songs: 7 s at 44.1 kHz stereo (left = 2 * tone, right silent), the same
    tone as a mono 44.1 kHz and a mono 22.05 kHz file, a 2-s clip, the 2-s clip zero-padded
    to 3 s, a 1-s clip (a third of a segment), and a text file named .wav."""
    d = tmp_path_factory.mktemp("songs")
    y44 = tone(44100, 7.0)
    files = {
        "stereo": (np.stack([2 * y44, np.zeros_like(y44)], axis=1), 44100),
        "mono44": (y44, 44100),
        "mono22": (tone(22050, 7.0), 22050),
        "short": (tone(22050, 2.0), 22050),
        "padded": (np.pad(tone(22050, 2.0), (0, 22050)), 22050),
        "too_short": (tone(22050, 1.0), 22050),
    }
    out = {}
    for name, (y, sr) in files.items():
        out[name] = d / f"{name}.wav"
        sf.write(out[name], y, sr, subtype="FLOAT")
    out["text"] = d / "notes.wav"
    out["text"].write_text("this is not audio\n")
    return out


def predict_json(capsys, *args: str) -> tuple[list[dict], str, int]:
    """Run `genrevae predict ARGS` in-process: (parsed JSON, stderr, exit status)."""
    code = 0
    try:
        cli_main(["predict", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return json.loads(out.out) if out.out.strip() else [], out.err, code


def without_warning(err: str) -> list[str]:
    """stderr's lines but the one warning a model trained on data=synthetic (as the tiny
    pipeline's is) gives before any song."""
    lines = err.splitlines()
    if lines and lines[0].startswith("warning: model ") and "data=synthetic" in lines[0]:
        return lines[1:]
    return lines


def check_prediction(p: dict, cluster_ids: set[int]) -> None:
    assert set(p["probabilities"]) == set(GENRES)
    assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= v <= 1.0 for v in p["probabilities"].values())
    assert p["top_genre"] in GENRES
    assert p["top_genre"] == max(p["probabilities"], key=p["probabilities"].get)
    assert isinstance(p["nearest_cluster"], int) and p["nearest_cluster"] in cluster_ids
    assert len(p["latent"]) == LATENT_DIM and all(np.isfinite(p["latent"]))


@pytest.fixture(scope="module")
def cluster_ids(pipeline: Path) -> set[int]:
    return set(pd.read_csv(pipeline / "data/clusters/assignments.csv")["latent.kmeans"])


def test_predict_generated_stereo_clip(capsys, models, songs, cluster_ids) -> None:
    """A 7-s 44.1-kHz stereo clip: resampled (2 segments of 3 s at 22.05 kHz, not 4) and
    mixed to mono (identical to the mono file of the mixed signal)."""
    out, err, code = predict_json(capsys, str(songs["stereo"]), str(songs["mono44"]),
                                  str(songs["mono22"]), "--model", str(models))
    assert code == 0, err
    assert [p["track"] for p in out] == [str(songs[k]) for k in ("stereo", "mono44", "mono22")]
    for p in out:
        check_prediction(p, cluster_ids)
        assert p["n_segments"] == 2
    stereo, mono44, mono22 = out
    np.testing.assert_allclose(stereo["latent"], mono44["latent"], atol=1e-6)
    assert stereo["probabilities"] == pytest.approx(mono44["probabilities"], abs=1e-6)
    # The same music recorded at 22.05 kHz lands at (almost) the same place.
    np.testing.assert_allclose(mono22["latent"], mono44["latent"], atol=0.05)


def test_predict_real_gtzan_songs(capsys, models, shared_data, cluster_ids) -> None:
    """Real GTZAN excerpts (a 30-s WAV, 10 segments, and an MP3) give well-formed
    predictions."""
    songs = [shared_data / "gtzan_sample" / "blues" / name
             for name in ("blues.00000.wav", "blues.00099.mp3")]
    songs = [s for s in songs if s.is_file()]
    if not songs:
        pytest.skip("no GTZAN excerpt in ../shared/data")
    out, err, code = predict_json(capsys, *map(str, songs), "--model", str(models))
    assert code == 0, err
    assert [p["track"] for p in out] == [str(s) for s in songs]
    for song, p in zip(songs, out, strict=True):
        check_prediction(p, cluster_ids)
        if song.suffix == ".wav":
            assert p["n_segments"] == 10
        else:
            assert p["n_segments"] >= 9


def test_predict_csv(capsys, models, songs) -> None:
    """--format csv: a header (track, top_genre, nearest_cluster, n_segments, p_<genre>...,
    z0...) and one row per song, with the same values as the JSON output."""
    paths = [str(songs["mono44"]), str(songs["short"])]
    as_json, _, _ = predict_json(capsys, *paths, "--model", str(models))
    code = 0
    try:
        cli_main(["predict", *paths, "--model", str(models), "--format", "csv"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["track", "top_genre", "nearest_cluster", "n_segments",
                       *[f"p_{g}" for g in GENRES], *[f"z{i}" for i in range(LATENT_DIM)],
                       "model_run", "model_version", "model_data", "model_trained"]
    assert len(rows) == 1 + len(paths)
    for row, expected in zip(rows[1:], as_json, strict=True):
        record = dict(zip(rows[0], row, strict=True))
        assert record["track"] == expected["track"]
        assert record["top_genre"] == expected["top_genre"]
        assert int(record["nearest_cluster"]) == expected["nearest_cluster"]
        assert int(record["n_segments"]) == expected["n_segments"]
        probs = [float(record[f"p_{g}"]) for g in GENRES]
        assert probs == pytest.approx([expected["probabilities"][g] for g in GENRES])
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)
        assert [float(record[f"z{i}"]) for i in range(LATENT_DIM)] == pytest.approx(
            expected["latent"])


def test_predict_csv_escapes_formula_names(capsys, models, songs, tmp_path,
                                           monkeypatch) -> None:
    """A song whose name a spreadsheet would run as a formula is written escaped."""
    import shutil

    name = "=cmd|' -C calc'!A0.wav"
    shutil.copyfile(songs["mono44"], tmp_path / name)
    models = Path(models).resolve()
    monkeypatch.chdir(tmp_path)
    try:
        cli_main(["predict", name, "--model", str(models), "--format", "csv"])
    except SystemExit as exc:
        assert not exc.code
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1][0] == "'" + name


def test_csv_into_a_pipe_whose_reader_left_is_quiet(models, songs) -> None:
    """`genrevae predict --format csv SONGS | head -c 10`: the reader is gone before the
    rows come; predict stops as a Unix tool does (status 141, or 0), no traceback."""
    paths = [str(songs["mono44"])] * 40
    proc = subprocess.Popen([sys.executable, "-m", "genrevae.cli", "predict", *paths, "--model",
                             str(models), "--format", "csv"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=600) in (0, 141)
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_unreadable_file_fails_but_good_songs_are_printed(capsys, models, songs,
                                                          cluster_ids) -> None:
    """A text file named .wav: exit status 1 and one `error:` line naming it, while the
    good song after it is still predicted and printed."""
    out, err, code = predict_json(capsys, str(songs["text"]), str(songs["mono44"]),
                                  "--model", str(models))
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "notes.wav" in errors[0]
    assert "Traceback" not in err
    assert [p["track"] for p in out] == [str(songs["mono44"])]
    check_prediction(out[0], cluster_ids)


@pytest.mark.parametrize(("samples", "message"), [
    (lambda y: np.where(np.arange(y.size) == 5, np.nan, y), "1 of 308700 samples are NaN"),
    (lambda y: y * 1e30, "far beyond full scale"),
    (lambda y: np.full_like(y, 1e-40), "silent"),
])
def test_hostile_samples_are_refused_naming_the_file(capsys, tmp_path, models, songs,
                                                     samples, message) -> None:
    """NaN, 1e30 or denormal-only samples: one `error:` line naming the file (exit 1), no
    NaN probabilities, and the good song is still printed as valid JSON."""
    bad = tmp_path / "hostile.wav"
    sf.write(bad, samples(tone(44100, 7.0)).astype(np.float32), 44100, subtype="FLOAT")
    out, err, code = predict_json(capsys, str(bad), str(songs["mono44"]), "--model", str(models))
    assert code == 1
    lines = without_warning(err)
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert str(bad) in lines[0] and message in lines[0]
    assert [p["track"] for p in out] == [str(songs["mono44"])]


def test_short_clip_is_padded_to_one_segment(capsys, models, songs, cluster_ids) -> None:
    """A 2-s clip works: one segment, the same as the clip zero-padded to 3 s by hand."""
    out, err, code = predict_json(capsys, str(songs["short"]), str(songs["padded"]),
                                  "--model", str(models))
    assert code == 0, err
    short, padded = out
    check_prediction(short, cluster_ids)
    assert short["n_segments"] == padded["n_segments"] == 1
    np.testing.assert_allclose(short["latent"], padded["latent"], atol=1e-6)


def test_clip_shorter_than_half_a_segment_is_refused(capsys, models, songs,
                                                     cluster_ids) -> None:
    """A 1-s clip would be two thirds padding: one `error:` line naming it as too short
    (exit 1), and the song after it is still predicted."""
    out, err, code = predict_json(capsys, str(songs["too_short"]), str(songs["short"]),
                                  "--model", str(models))
    assert code == 1
    assert without_warning(err) == [f"error: {songs['too_short']}: 1.00 s fills less than 50% "
                                "of one 3-s segment"]
    assert [p["track"] for p in out] == [str(songs["short"])]
    check_prediction(out[0], cluster_ids)


def test_pipe_and_folder_are_refused_without_waiting(capsys, tmp_path, models, songs) -> None:
    """A named pipe (which nothing writes to: opening it to read would block for ever) and
    a folder, both named .wav: one `error:` line each, and the good song is printed."""
    pipe, folder = tmp_path / "pipe.wav", tmp_path / "folder.wav"
    os.mkfifo(pipe)
    folder.mkdir()
    out, err, code = predict_json(capsys, str(pipe), str(folder), str(songs["mono44"]),
                                  "--model", str(models))
    assert code == 1
    assert without_warning(err) == [f"error: {p}: not a regular file (a folder, device, pipe or "
                                "socket)" for p in (pipe, folder)]
    assert [p["track"] for p in out] == [str(songs["mono44"])]


def test_a_song_is_read_up_to_the_checkpoints_max_seconds(models, songs) -> None:
    """The checkpoint's features.max_seconds (600 s by default) caps what predict reads,
    as it capped the pipeline's tracks: at 3.5 s a 7-s song gives one segment, that of its
    first 3 s."""
    predictor = Predictor(models)
    assert predictor.transform.features["max_seconds"] == 600.0
    full = np.concatenate(list(predictor.segment_batches(songs["mono44"])))
    predictor.transform.features["max_seconds"] = 3.5
    capped = np.concatenate(list(predictor.segment_batches(songs["mono44"])))
    assert len(full) == 2 and len(capped) == 1
    np.testing.assert_allclose(capped[0], full[0], atol=1e-5)


def test_missing_model_folder_is_one_clear_error(capsys, tmp_path, songs) -> None:
    """No model.pt: exit status 2 and an `error:` line pointing at `dvc repro`."""
    _, err, code = predict_json(capsys, str(songs["mono44"]), "--model", str(tmp_path))
    assert code == 2
    assert err.startswith("error:") and "dvc repro" in err and "model.pt" in err


def _truncate(text: str) -> str:
    return text[: len(text) // 2]


def _edit_probe(**changes):
    def edit(text: str) -> str:
        return json.dumps({**json.loads(text), **changes})
    return edit


@pytest.mark.parametrize(("damage", "why"), [
    (_truncate, r"Expecting|Unterminated"),
    (lambda text: "[1, 2, 3]\n", "expected an object with keys classes"),
    (_edit_probe(coef=[[0.5, 0.25]]), r"coef: expected \(4, 4\) finite numbers"),
    (_edit_probe(scaler_scale=[1.0, None, 1.0, 1.0]), r"scaler_scale: expected \(4,\) finite"),
    (_edit_probe(classes="rock"), "classes: expected a list of at least two names"),
    (_edit_probe(cluster_centres={"0": [1.0]}), r"cluster_centres\.0: expected \(4,\)"),
])
def test_damaged_probe_is_one_clear_error(capsys, tmp_path, models, songs, damage, why) -> None:
    """A truncated or malformed probe.json: exit 2 and one `error:` line naming it and
    saying to rerun the pipeline; nothing on stdout."""
    damaged = tmp_path / "models"
    shutil.copytree(models, damaged)
    probe = damaged / "probe.json"
    probe.write_text(damage(probe.read_text()))
    out, err, code = predict_json(capsys, str(songs["mono44"]), "--model", str(damaged))
    assert code == 2 and out == []
    (line,) = err.splitlines()
    assert line.startswith(f"error: {probe}: damaged or incomplete (")
    assert re.search(why, line) and line.endswith("rerun the stage that writes it (`dvc repro`)")


def test_console_script_uses_the_pipeline_models_by_default(pipeline, songs) -> None:
    """The installed `genrevae` command, run in the project folder without --model, reads
    the model folder of params.yaml's paths.model."""
    proc = subprocess.run([str(Path(sys.executable).parent / "genrevae"), "predict",
                           str(songs["mono44"])], cwd=pipeline, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 1


# ---------------------------------------------------------------- same input as the pipeline


@pytest.fixture(scope="module")
def corpus(pipeline: Path):
    manifest = pd.read_csv(pipeline / "data/prepared/manifest.csv")
    segments = pd.read_csv(pipeline / "data/features/audio/segments.csv")
    z = np.load(pipeline / "data/latent/z.npy")
    assert len(z) == len(segments)
    return manifest, segments, z


def test_instrumental_corpus_track_predicts_its_pipeline_latent(capsys, pipeline, models,
                                                                corpus) -> None:
    """For every corpus track without lyrics (hybrid input), predict rebuilds exactly the
    pipeline's input: its latent is the mean of the track's rows of z.npy, and its nearest
    cluster is the nearest K-Means centre computed from the assignments."""
    manifest, segments, z = corpus
    instrumental = manifest[manifest["lyrics"].isna()]
    assert len(instrumental) >= 1
    assignments = pd.read_csv(pipeline / "data/clusters/assignments.csv")
    keyed = segments[["track_id", "segment_index"]].reset_index().merge(
        assignments[["track_id", "segment_index", "latent.kmeans"]],
        on=["track_id", "segment_index"], validate="one_to_one")
    labels = keyed.sort_values("index")["latent.kmeans"].to_numpy()
    centres = {k: z[labels == k].mean(axis=0) for k in np.unique(labels)}
    paths = [str(pipeline / p) for p in instrumental["path"]]
    out, err, code = predict_json(capsys, *paths, "--model", str(models))
    assert code == 0, err
    for track_id, p in zip(instrumental["track_id"], out, strict=True):
        rows = (segments["track_id"] == track_id).to_numpy()
        assert p["n_segments"] == rows.sum()
        expected = z[rows].mean(axis=0)
        np.testing.assert_allclose(p["latent"], expected, atol=1e-4, err_msg=track_id)
        nearest = min(centres, key=lambda k: float(((centres[k] - expected) ** 2).sum()))
        assert p["nearest_cluster"] == nearest, track_id


def test_tracks_with_lyrics_differ_from_their_pipeline_latent(pipeline, models, corpus) -> None:
    """Sanity check of the test above: a new song has no lyrics, so for tracks that do have
    lyrics the predicted latent is not the pipeline's (the comparison can fail)."""
    manifest, segments, z = corpus
    with_lyrics = manifest[manifest["lyrics"].notna()].head(3)
    predictor = Predictor(models)
    gaps = []
    for track_id, path in zip(with_lyrics["track_id"], with_lyrics["path"], strict=True):
        rows = (segments["track_id"] == track_id).to_numpy()
        latent = np.array(predictor.predict(pipeline / path).latent)
        gaps.append(np.abs(latent - z[rows].mean(axis=0)).max())
    assert max(gaps) > 1e-3


# ---------------------------------------------------------------- other inputs: mel, condition


def _variant_params(tiny: dict, name: str) -> dict:
    p = copy.deepcopy(tiny)
    if name == "vae_whiten":
        p["model"].update(name="vae", input="audio", whiten=True)
    else:
        p["model"].update(name=name, input="mel" if name == "conv_vae" else "hybrid",
                          condition="language" if name == "cvae" else None)
    return p


@pytest.fixture(scope="module", params=["conv_vae", "cvae", "vae_whiten"])
def variant(request, tmp_path_factory, pipeline: Path, tiny_composed) -> tuple[str, Path]:
    """The train stage re-run on the pipeline's features with another model (log-mel input,
    a condition, or whitened audio input). Only latents are compared, so the hybrid run's
    probe is reused (the latent dimension is the same) instead of running cluster and
    evaluate again."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    p = _variant_params(tiny_composed, name)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    for part in ("data/prepared", "data/features"):
        shutil.copytree(pipeline / part, root / part)
    run_stages(root, ["train"])
    shutil.copy(pipeline / "models" / "probe.json", root / "models" / "probe.json")
    return name, root


def test_variant_predicts_its_pipeline_latent(capsys, variant, corpus) -> None:
    """conv_vae and the whitened audio vae: every track (lyrics play no part in their input)
    predicts the mean of its rows of z.npy, so the whitening fit on train travels in the
    checkpoint. cvae: a track without lyrics, predicted under its own language, does too;
    under another language it does not."""
    name, root = variant
    manifest, segments, _ = corpus
    z = np.load(root / "data/latent/z.npy")
    instrumental = manifest["lyrics"].isna()
    if name in ("conv_vae", "vae_whiten"):  # tracks with and without lyrics
        tracks = pd.concat([manifest[instrumental].head(2), manifest[~instrumental].head(2)])
    else:
        tracks = manifest[instrumental]
    for track in tracks.itertuples():
        extra = ["--condition", track.language] if name == "cvae" else []
        out, err, code = predict_json(capsys, str(root / track.path), "--model",
                                      str(root / "models"), *extra)
        assert code == 0, err
        rows = (segments["track_id"] == track.track_id).to_numpy()
        np.testing.assert_allclose(out[0]["latent"], z[rows].mean(axis=0), atol=1e-4,
                                   err_msg=track.track_id)
    if name == "cvae":
        track = tracks.iloc[0]
        other = next(v for v in manifest["language"].unique() if v != track.language)
        out, _, _ = predict_json(capsys, str(root / track.path), "--model",
                                 str(root / "models"), "--condition", other)
        rows = (segments["track_id"] == track.track_id).to_numpy()
        assert np.abs(np.array(out[0]["latent"]) - z[rows].mean(axis=0)).max() > 1e-3


@pytest.mark.parametrize("variant", ["cvae"], indirect=True)
def test_cvae_condition_default_and_unknown_value(capsys, variant, corpus) -> None:
    """Without --condition the train majority is used; an unknown value is one clear error."""
    _, root = variant
    manifest, segments, _ = corpus
    train_langs = segments.loc[segments["split"] == "train", "language"]
    majority = train_langs.mode().iloc[0]
    song = str(root / manifest["path"].iloc[0])
    default, _, _ = predict_json(capsys, song, "--model", str(root / "models"))
    explicit, _, _ = predict_json(capsys, song, "--model", str(root / "models"),
                                  "--condition", majority)
    assert default[0]["latent"] == explicit[0]["latent"]
    _, err, code = predict_json(capsys, song, "--model", str(root / "models"),
                                "--condition", "klingon")
    assert code == 2
    assert err.startswith("error:") and "klingon" in err


def test_whitening_refuses_input_with_unobserved_entries(tmp_path, pipeline: Path,
                                                         tiny_composed) -> None:
    """Hybrid input has no lyrics block for instrumental tracks: the train stage's script
    refuses to whiten it with one error naming model.whiten, and writes no checkpoint."""
    p = _variant_params(tiny_composed, "vae_whiten")
    p["model"]["input"] = "hybrid"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    for part in ("data/prepared", "data/features"):
        shutil.copytree(pipeline / part, tmp_path / part)
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "train.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "model.whiten" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "models" / "model.pt").exists()


@pytest.mark.parametrize("variant", ["vae_whiten"], indirect=True)
def test_whitened_hybrid_model_is_refused(capsys, tmp_path, variant, songs) -> None:
    """A model that whitens hybrid input (possible when every track has lyrics) cannot take
    a new song, which has none: one clear error instead of a latent from unseen input."""
    from genrevae.models.checkpoint import load_checkpoint

    _, root = variant
    ckpt = load_checkpoint(root / "models" / "model.pt")
    ckpt["meta"]["input"] = "hybrid"
    torch.save(ckpt, tmp_path / "model.pt")
    shutil.copy(root / "models" / "probe.json", tmp_path / "probe.json")
    _, err, code = predict_json(capsys, str(songs["mono44"]), "--model", str(tmp_path))
    assert code == 2
    assert err.startswith("error:") and "whitens hybrid input" in err


def test_long_song_streams_in_batches_with_the_same_result(tmp_path, models, monkeypatch) -> None:
    """A song longer than a decode block goes through in batches of segments; its segments
    are those of decoding it whole, and the prediction does not depend on the batch size."""
    import genrevae.serving.predict as predict_module
    from genrevae.data.audio import load_audio

    path = tmp_path / "long.wav"
    y = tone(44100, 70.5)
    sf.write(path, np.stack([y, 0.5 * y], axis=1), 44100, subtype="FLOAT")
    monkeypatch.setattr(predict_module, "BLOCK_SECONDS", 20.3)  # blocks end mid-segment
    predictor = Predictor(models)
    batches = list(predictor.segment_batches(path, batch=4))
    assert max(len(b) for b in batches) == 4
    whole = load_audio(path, sr=22050)
    n = 3 * 22050
    expected = whole[: len(whole) // n * n].reshape(-1, n)
    np.testing.assert_allclose(np.concatenate(batches), expected, atol=1e-6)
    small = predictor.predict(path)
    monkeypatch.setattr(predict_module, "BATCH_SEGMENTS", 1000)
    one_batch = predictor.predict(path)
    assert small.n_segments == one_batch.n_segments == 23
    np.testing.assert_allclose(small.latent, one_batch.latent, atol=1e-5)
    assert small.probabilities == pytest.approx(one_batch.probabilities, abs=1e-5)
