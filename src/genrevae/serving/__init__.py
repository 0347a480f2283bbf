"""One predictor behind `genrevae predict`, the MLflow model and the HTTP server: the
model's files as a bundle (data only, checked by digest), songs sent as bytes, and the
provenance every answer carries. See docs/serving.md."""
