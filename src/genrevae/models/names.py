"""The models ``model.name`` accepts, each with the class that builds it: the one table,
read by the config check (the names) and by :mod:`genrevae.models.registry` (the classes).

Classes are named by their import path, not imported: this module stays free of torch,
so validating a params file (every stage does, the ``check`` stage only that) does not
import the models. Adding a model is its module under ``genrevae.models`` (a
:class:`~genrevae.models.base.LatentModel` with its ``_build``), its
``conf/model/<name>.yaml``, and its line here."""

MODEL_CLASSES = {
    "vae": "genrevae.models.vae.VAE",
    "conv_vae": "genrevae.models.conv_vae.ConvVAE",
    "cvae": "genrevae.models.vae.CVAE",
    "vade": "genrevae.models.vade.VaDE",
    "ae": "genrevae.models.vae.AE",
}
MODEL_NAMES = tuple(MODEL_CLASSES)
