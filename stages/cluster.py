"""Stage `cluster`: K-Means, Agglomerative and DBSCAN on the latent means and, as
baselines in the same run, on PCA of the model input (same dimension, fit on train), on
whitened PCA (same dimension, fit on train) and on the raw model input; then K-Means on
each track's mean row of every one of those representations.

Writes paths.assignments: one row per encoded segment (track_id, segment_index, split)
and one column per <representation>.<algorithm>; -1 marks DBSCAN noise.
Writes paths.track_assignments: one row per track with an encoded segment (track_id,
split) and one <representation>.kmeans column, K-Means on the mean of the track's segment
rows, centres fit on train tracks (K-Means only, whatever cluster.algorithms says: see
genrevae.evaluation.clustering).
"""

from genrevae.pipeline import cluster
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: cluster.run(cfg), __doc__)
