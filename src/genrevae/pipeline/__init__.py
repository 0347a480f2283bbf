"""The pipeline's stages as importable functions: ``genrevae.pipeline.<stage>.run(cfg)``
holds what ``stages/<stage>.py`` runs (that script is its docstring and a call), and
:mod:`genrevae.pipeline.runner` what every stage shares (CLI, logging, seeding, the one
``error:`` line). Tests and benchmarks call these functions in-process."""
