"""Composing ``conf/`` into a params file, as ``dvc exp run`` does, with Hydra's errors
turned into one line. Used by ``genrevae params`` and by the stages' check that
``params.yaml`` is what their ``dvc exp run`` asked for (:mod:`genrevae.pipeline.runlog`)."""

from __future__ import annotations

import re
from pathlib import Path

from genrevae.config import load_config
from genrevae.errors import ConfigError


def compose_params(
    overrides: list[str], *, conf_dir: str | Path = "conf", output: str | Path = "params.yaml"
) -> Path:
    """Compose ``conf/`` into ``output`` exactly as ``dvc exp run`` does (DVC's own
    Hydra composition), then validate the result.

    Raises
    ------
    ConfigError
        One line naming the override or key at fault: a malformed override, an option a
        config group does not have (with the valid ones), an unknown key, an invalid value.
    """
    from dvc.utils.hydra import compose_and_dump
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    conf_dir = Path(conf_dir).resolve()
    for override in overrides:
        _check_override(override, conf_dir)
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        compose_and_dump(tmp, str(conf_dir), None, "config", str(conf_dir / "hydra_plugins"),
                         list(overrides))
        load_config(tmp)  # refuse to write an invalid params file
        tmp.replace(output)
    except ConfigError:
        raise
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        # Hydra's messages span many lines (search path, hints); the user needs one.
        raise ConfigError(_composition_error(exc, overrides)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return output


def group_options(conf_dir: Path, group: str) -> list[str]:
    """The options of config group ``group``: ``conf/<group>/*.yaml`` except ``_`` files."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml") if not p.name.startswith("_"))


def _check_override(override: str, conf_dir: Path) -> None:
    """Refuse, in one line, an override Hydra would answer with a multi-line traceback."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType
    from hydra.errors import OverrideParseException

    try:
        (parsed,) = OverridesParser.create().parse_overrides([override])
    except OverrideParseException as exc:
        first = str(exc).splitlines()[0].strip()
        raise ConfigError(f"{override!r}: malformed override ({first}); write key=value, "
                          "e.g. latent_dim=64") from exc
    key = parsed.key_or_group
    if not key:
        raise ConfigError(f"{override!r}: malformed override: no key before '='")
    if parsed.value_type not in (None, ValueType.ELEMENT):
        raise ConfigError(f"{key}: {override!r} is a sweep; genrevae params composes one "
                          "configuration (sweep with `dvc exp run --queue -S ...`)")
    if parsed.package is None and (conf_dir / key).is_dir() and not parsed.is_delete():
        options = group_options(conf_dir, key)
        value = parsed.value()
        if not isinstance(value, str) or value not in options:
            shown = "null" if value is None else repr(value)
            raise ConfigError(f"{key}: no option {shown} in {conf_dir.name}/{key}/; choose one "
                              f"of {', '.join(options)}")


def _composition_error(exc: Exception, overrides: list[str]) -> str:
    """One line for an error Hydra or OmegaConf raised while composing."""
    text = str(exc)
    unknown = re.search(r"Could not override '([^']+)'", text)
    if unknown:
        return f"{unknown[1]}: unknown key (not in conf/)"
    missing = re.search(r"Interpolation key '([^']+)' not found", text)
    if missing:
        name = missing[1]
        for override in overrides:
            if "${" + name in override:
                return f"{override.split('=')[0].lstrip('+~')}: refers to ${{{name}}}, which is " \
                       "not a key of conf/"
        return f"{name}: other keys refer to ${{{name}}}, so it cannot be removed"
    lines = [line.strip() for line in text.split("Config search path")[0].splitlines()]
    return f"cannot compose conf/ with {' '.join(overrides) or 'no overrides'}: " + \
        "; ".join(line for line in lines if line)
