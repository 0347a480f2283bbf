"""The model names ``model.name`` accepts: the one list, read by the config check and by
the registry.

A module of its own, free of torch, so that validating a params file (every stage does,
the ``check`` stage only that) does not import the models."""

MODEL_NAMES = ("vae", "conv_vae", "cvae", "vade", "ae")
