"""Evaluation: frozen backbones, their embeddings, probes on them, the LVU protocol (§5, App. B.3.1).

``backbones`` loads a run's backbones (heads dropped) with the inputs they were trained on;
``windows`` cuts media into the model's windows; ``embed`` writes per-window and per-video embeddings;
``probes`` trains linear and MLP probes (test metric at the val-best epoch); ``lvu`` runs the LVU
benchmark for several runs side by side. The HEAR 2021 API lives in :mod:`lssd.hear`.
"""
