"""The engines a corpus extraction runs on, peers that
:mod:`genrevae.features.extraction` picks between by ``features.engine``: ``local`` (this
process, a process pool or a GPU) and ``dask`` (tasks on a Dask cluster). Each takes the
same :class:`~genrevae.features.jobs.TrackJob` objects and fills the same store; neither
imports the extraction that picks it."""
