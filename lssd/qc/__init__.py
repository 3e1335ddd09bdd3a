"""Quality control of dubs: per-track metrics against the original, figures, and a dataset report.

``lssd qc OUTPUT.mkv`` (:mod:`lssd.qc.cli`); the dataset builder calls :func:`qc_summary` per clip.
"""

from lssd.qc.report import check, qc_summary

__all__ = ["check", "qc_summary"]
