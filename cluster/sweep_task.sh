#!/usr/bin/env bash
# One grid point of a sweep, as one SLURM array task runs it (cluster/sweep.sbatch): clone the
# project, run the point as a DVC experiment, push it (its git refs to the git remote, its
# outputs and run-cache to the DVC remote). The login node reads the sweep back with
# `dvc exp pull origin` and `dvc exp show` (docs/cluster.md).
#
# Settings (environment):
#   SLURM_ARRAY_TASK_ID  the grid point, 0-based (SLURM sets it; set it yourself to run one by hand)
#   SWEEP_REPO           git URL of the project that every node reaches (the clone's origin)
#   SWEEP_DVC_REMOTE     DVC remote URL every node reaches (a shared folder or ssh://...);
#                        `default` keeps the remote committed in .dvc/config
#   SWEEP_GRID           the grid file, in the clone unless absolute (default cluster/grid.txt)
#   SWEEP_REV            branch or commit to clone (default: the remote's HEAD)
#   SWEEP_WORK           where the clone goes (default $TMPDIR or /tmp); removed on success
#                        unless SWEEP_KEEP=1
#   MLFLOW_TRACKING_URI  a tracking server every node reaches, to keep the MLflow runs
set -euo pipefail

# A clone that never reached its experiment is removed on the way out.
die() { echo "error: $*" >&2; [[ -z ${clone:-} ]] || rm -rf "$clone"; exit 2; }

task=${SLURM_ARRAY_TASK_ID:-}
[[ $task =~ ^[0-9]+$ ]] || die "SLURM_ARRAY_TASK_ID is '${task}', not a grid point number"
[[ -n ${SWEEP_REPO:-} ]] || die "SWEEP_REPO is not set (the project's git URL every node reaches)"
[[ -n ${SWEEP_DVC_REMOTE:-} ]] || die "SWEEP_DVC_REMOTE is not set (a DVC remote every node reaches, or 'default')"

work="${SWEEP_WORK:-${TMPDIR:-/tmp}}/genrevae-sweep-${SLURM_ARRAY_JOB_ID:-$$}-${task}"
[[ ! -e $work ]] || die "$work exists already"
git clone -q ${SWEEP_REV:+--branch "$SWEEP_REV"} "$SWEEP_REPO" "$work"
clone=$work
cd "$work"

grid=${SWEEP_GRID:-cluster/grid.txt}
[[ -f $grid ]] || die "grid file $grid not found"
# The task-th line that is neither blank nor a comment.
point=$(grep -Ev '^[[:space:]]*(#|$)' "$grid" | sed -n "$((task + 1))p")
[[ -n $point ]] || die "$grid has no grid point $task (it has $(grep -cEv '^[[:space:]]*(#|$)' "$grid"))"
read -r name overrides <<<"$point"
args=()
for o in $overrides; do args+=(-S "$o"); done

if [[ $SWEEP_DVC_REMOTE != default ]]; then
  # .dvc/config.local: this clone only, never committed.
  dvc remote modify --local shared url "$SWEEP_DVC_REMOTE"
fi

clone=
echo "sweep task $task: $name ${overrides}"
# --pull: what the remote holds (data, features, a stage's run-cache entry) is fetched,
# not recomputed.
dvc exp run --pull -n "$name" "${args[@]}"
dvc exp push --run-cache origin "$name"

cd /
[[ ${SWEEP_KEEP:-0} == 1 ]] || rm -rf "$work"
