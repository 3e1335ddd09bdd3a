"""``lssd build-dataset``: dub every clip of a dataset (LVU → LVU-M, or any folder of videos).

``clips`` finds the clips and their LVU memberships, ``manifest`` records one row per clip, ``worker``
dubs one clip inside a process that keeps its loaded engines, ``pool`` and ``ray_pool`` run workers
locally or on a Ray cluster, ``build`` schedules clips over them, ``card`` writes the dataset card.
"""
