"""The ``genrevae`` command: helpers around the pipeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genrevae import __version__
from genrevae.config import load_config
from genrevae.errors import GenreVAEError


def compose_params(
    overrides: list[str], *, conf_dir: str | Path = "conf", output: str | Path = "params.yaml"
) -> Path:
    """Compose ``conf/`` into ``output`` exactly as ``dvc exp run`` does (DVC's own
    Hydra composition), then validate the result."""
    from dvc.utils.hydra import compose_and_dump

    conf_dir = Path(conf_dir).resolve()
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        compose_and_dump(tmp, str(conf_dir), None, "config", str(conf_dir / "hydra_plugins"),
                         list(overrides))
        load_config(tmp)  # refuse to write an invalid params file
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


def _cmd_params(args: argparse.Namespace) -> None:
    path = compose_params(args.overrides, conf_dir=args.conf, output=args.output)
    print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genrevae",
        description="VAE latent spaces of music, clustered into genres. The pipeline itself "
        "runs with `dvc repro` / `dvc exp run`; this command holds the helpers.",
    )
    parser.add_argument("--version", action="version", version=f"genrevae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "params",
        help="compose conf/ into params.yaml (as `dvc exp run` does)",
        description="Compose the Hydra config groups in conf/ into params.yaml, with optional "
        "overrides such as latent_dim=64 or model.beta=4, and validate it.",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. latent_dim=64 data=synthetic")
    p.add_argument("--conf", default="conf", help="config directory (default: conf)")
    p.add_argument("--output", default="params.yaml", help="output file (default: params.yaml)")
    p.set_defaults(func=_cmd_params)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except GenreVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
