"""Splits that say what they leak: the tracks whose artist straddles the splits, on the
standard fault-filtered GTZAN split with the shared artist table, and the option that drops
the test tracks whose artist is in train."""

from __future__ import annotations

import contextlib
import copy
import logging

import pandas as pd
import pytest
import yaml

from genrevae.config import from_dict
from genrevae.data import sources
from genrevae.data.straddle import REPORT_COLUMNS, drop_straddling, split_report, summary
from genrevae.features.audio import handcrafted_columns
from genrevae.io import load_csv
from genrevae.pipeline.runner import run_inline

# Kereliuk, Sturm & Larsen's split leaves these artists in train and test (artist table
# of ../shared/data; the manifest keeps artist names in lower case).
TEST_BESIDE_TRAIN = {"burning spear": 7, "boney m.": 2, "anthrax": 2, "earth, wind & fire": 1,
                     "kc and the sunshine band": 1, "danzig": 1}


def _gtzan(params: dict, shared_data, **data) -> dict:
    raw = copy.deepcopy(params)
    raw["data"].update(name="features_table", synthetic=None,
                       root=str(shared_data / "gtzan_features_30_sec.csv"),
                       metadata=str(shared_data / "gtzan_artists.csv"), **data)
    return raw


@pytest.fixture(scope="module")
def fault_filtered(params, shared_data, tmp_path_factory) -> sources.Prepared:
    cfg = from_dict(_gtzan(params, shared_data, split="gtzan_fault_filtered")).data
    return sources.build_manifest(cfg, seed=0, corpus_dir=tmp_path_factory.mktemp("c"),
                                  min_seconds=0.5, feature_columns=handcrafted_columns())


def test_fault_filtered_split_puts_14_test_tracks_beside_their_artists_train_tracks(
        fault_filtered):
    report = split_report(fault_filtered.manifest)
    assert tuple(report.columns) == REPORT_COLUMNS
    test = report[report["split"] == "test"]
    beside_train = test[test["artist_in_train"]]
    assert beside_train["artist"].value_counts().to_dict() == TEST_BESIDE_TRAIN
    assert len(test) == 27  # counting artists with val tracks only (Metallica 8, ...)
    assert (report.loc[report["split"] == "val", "artist_in_train"]).sum() == 7
    assert not report.loc[report["split"] == "train", "artist_in_train"].any()
    assert not report["dropped"].any()
    # Every row's artist really is in the splits it lists.
    m = fault_filtered.manifest
    for artist, splits in report.groupby("artist")["artist_splits"].first().items():
        assert "/".join(s for s in ("train", "val", "test")
                        if s in set(m.loc[m["artist"] == artist, "split"])) == splits
    assert summary(report).startswith("14 test tracks share an artist with train tracks "
                                       "(27 counting val), 7 val tracks with train; ")


def test_drop_removes_exactly_those_test_tracks(fault_filtered):
    report = split_report(fault_filtered.manifest)
    kept, rejected = drop_straddling(fault_filtered.manifest, report)
    assert kept["split"].value_counts().to_dict() == {"train": 443, "test": 276, "val": 197}
    dropped = report[report["dropped"]]
    assert len(dropped) == len(rejected) == 14 and (dropped["split"] == "test").all()
    assert not set(dropped["track_id"]) & set(kept["track_id"])
    assert {r["reason"] for r in rejected} == {"artist_in_train"}
    burning = [r for r in rejected if "'burning spear'" in r["detail"]]
    train_tracks = (fault_filtered.manifest.query("split == 'train'")["artist"]
                    == "burning spear").sum()
    assert len(burning) == 7 and f"has {train_tracks} train tracks" in burning[0]["detail"]
    train_artists = set(kept.loc[kept["split"] == "train", "artist"].dropna())
    assert not set(kept.loc[kept["split"] == "test", "artist"].dropna()) & train_artists
    assert summary(report).endswith("; 14 test tracks dropped (artist_in_train in rejected.csv)")


def test_a_random_split_by_artist_straddles_nothing(params, shared_data, tmp_path):
    cfg = from_dict(_gtzan(params, shared_data)).data
    m = sources.build_manifest(cfg, seed=1, corpus_dir=tmp_path, min_seconds=0.5,
                               feature_columns=handcrafted_columns()).manifest
    assert m["artist"].notna().sum() > 900 and split_report(m).empty


def test_without_artists_the_report_is_empty_with_its_columns():
    m = pd.DataFrame({"track_id": ["a", "b"], "split": ["train", "test"]})
    assert tuple(split_report(m).columns) == REPORT_COLUMNS and split_report(m).empty


@pytest.mark.parametrize("drop", [False, True])
def test_prepare_writes_the_report_and_drops_on_request(params, shared_data, tmp_path, caplog,
                                                        drop):
    raw = _gtzan(params, shared_data, split="gtzan_fault_filtered", split_drop_straddling=drop)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with contextlib.chdir(tmp_path), caplog.at_level(logging.INFO):
        run_inline("prepare", "params.yaml")
    paths = raw["paths"]
    report = load_csv(tmp_path / paths["split_report"])
    assert len(report) == 57 and report["dropped"].sum() == (14 if drop else 0)
    manifest = load_csv(tmp_path / paths["manifest"])
    rejected = load_csv(tmp_path / paths["rejected"])
    table = load_csv(tmp_path / paths["table"])
    assert (manifest["split"] == "test").sum() == (276 if drop else 290)
    assert (rejected["reason"] == "artist_in_train").sum() == (14 if drop else 0)
    assert set(table["track_id"]) == set(manifest["track_id"])
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("split report")]
    assert line.startswith("split report: 14 test tracks share an artist with train tracks")
    assert line.endswith(f"({paths['split_report']})")


def test_the_option_is_a_boolean(params):
    raw = copy.deepcopy(params)
    raw["data"]["split_drop_straddling"] = "yes"
    with pytest.raises(Exception, match=r"data\.split_drop_straddling: expected true or false"):
        from_dict(raw)
