"""Numeric cores of the dubbing pipeline: separation, voice conversion, loudness/EQ matching, metrics.

Plain numpy in, numpy out; no file IO and no pipeline state, so stages and tests call them directly.
"""
