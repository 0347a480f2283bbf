"""The compiled kernels behind :mod:`genrevae.features.audio`, one feature family per module
(spectral, hpss, chroma, rhythm, the filter banks), the two frontends that run them (numpy
and numba; torch) and the librosa recipe they are checked and timed against (reference)."""
