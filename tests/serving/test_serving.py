"""The serving helpers without MLflow: the digest check of a model's files, provenance and
its warning, and the payload limit. (tests/test_registry.py runs them through MLflow.)"""

from __future__ import annotations

import hashlib

import pytest

from genrevae.errors import ArtifactError, AudioError, ConfigError
from genrevae.serving.bundle import describe, digests, synthetic_warning, verify
from genrevae.serving.payload import MAX_MB_ENV, max_bytes, predict_bytes


@pytest.fixture
def bundle(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"weights")
    (folder / "probe.json").write_text("{}")
    return folder


def test_digests_are_sha256_of_each_file(bundle) -> None:
    assert digests(bundle) == {"model.pt": hashlib.sha256(b"weights").hexdigest(),
                               "probe.json": hashlib.sha256(b"{}").hexdigest()}


@pytest.mark.parametrize(("change", "why"), [
    (lambda d: (d / "model.pt").write_bytes(b"weightz"), "model.pt differs from the file logged"),
    (lambda d: (d / "probe.json").unlink(), "probe.json is missing"),
    (lambda d: (d / "code.py").write_text("print(1)"), "code.py was not logged"),
])
def test_verify_refuses_any_change_in_one_line(bundle, change, why) -> None:
    recorded = digests(bundle)
    verify(bundle, recorded, what="m")
    change(bundle)
    with pytest.raises(ArtifactError) as info:
        verify(bundle, recorded, what="models:/genrevae/1")
    message = str(info.value)
    assert message.startswith("models:/genrevae/1: ") and why in message
    assert "\n" not in message


def test_verify_refuses_a_model_without_recorded_digests(bundle) -> None:
    with pytest.raises(ArtifactError, match="no file digests recorded"):
        verify(bundle, None, what="m")


def test_provenance_line_and_synthetic_warning() -> None:
    info = {"run": "exp-a", "run_id": "1", "registered_model": "genrevae", "version": "3",
            "data": "synthetic", "trained": "2026-01-01T00:00:00+00:00", "genres": ["a", "b"]}
    assert describe(info) == ("model: run exp-a (genrevae version 3), data synthetic, trained "
                              "2026-01-01T00:00:00+00:00, genres a, b")
    warning = synthetic_warning(info)
    assert "exp-a" in warning and "data=synthetic" in warning and "(a, b)" in warning
    assert synthetic_warning({**info, "data": "gtzan"}) is None


def test_payload_limit_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(MAX_MB_ENV, raising=False)
    assert max_bytes() == 100_000_000
    monkeypatch.setenv(MAX_MB_ENV, "2.5")
    assert max_bytes() == 2_500_000
    for bad in ("0", "-1", "lots"):
        monkeypatch.setenv(MAX_MB_ENV, bad)
        with pytest.raises(ConfigError, match=MAX_MB_ENV):
            max_bytes()


def test_oversized_or_empty_payload_is_refused_before_decoding() -> None:
    # No predictor is needed: the size is checked before anything is written or decoded.
    with pytest.raises(AudioError, match=r"big.wav: 0.0 MB is more than the 1e-05 MB") as info:
        predict_bytes(None, b"x" * 11, "big.wav", limit=10)
    assert info.value.reason == "too_large"
    with pytest.raises(AudioError, match="empty payload"):
        predict_bytes(None, b"", "none.wav", limit=10)
    with pytest.raises(AudioError, match="expected the song's bytes, got str"):
        predict_bytes(None, "text", "t.wav", limit=10)


def test_the_mlflow_model_answers_a_bad_song_with_a_one_line_reason() -> None:
    """What MLflow's scoring server turns into a 400: the song's reason, one line, and its
    code; the check comes before the predictor (none is needed here)."""
    from mlflow.exceptions import MlflowException

    from genrevae.serving.pyfunc import GenreModel

    model = GenreModel(None, {"run": "r"}, limit=10)
    with pytest.raises(MlflowException, match="expected a column 'audio'"):
        model.predict({"name": ["a.wav"]})
    with pytest.raises(MlflowException) as info:
        model.predict({"audio": [b"x" * 11], "name": ["big.wav"]})
    assert "big.wav: 0.0 MB is more than" in info.value.message
    assert "\n" not in info.value.message
    with pytest.raises(MlflowException, match="row 0: empty payload"):
        model.predict({"audio": [b""]})
