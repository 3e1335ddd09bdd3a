"""lssd: looking similar, sounding different.

Two halves sharing one data model (a multi-track container per title, one audio stream per language,
plus an lssd sidecar JSON): the dubbing pipeline (:mod:`lssd.dub`) and the trainer (:mod:`lssd.train`).
"""

__version__ = "0.1.0"
