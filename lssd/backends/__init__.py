"""Built-in backends. Importing this package registers each one with :mod:`lssd.backends.registry`.

Heavy libraries are imported only inside each backend's ``load``, so registering costs nothing.
One module per backend; add its import here.
"""
from lssd.backends import apertium, espeak, faster_whisper, pseudo_text, subtitles, vad  # noqa: F401
from lssd.backends import whisper_translate  # noqa: F401
from lssd.backends import dsp_separator, world_vc  # noqa: F401
from lssd.backends import knn_vc, seamless  # noqa: F401
from lssd.backends import demucs, whisper  # noqa: F401
