from __future__ import annotations

import pytest

from lssd.qc import synthetic


@pytest.fixture(scope="session")
def faulty_dubs(tmp_path_factory) -> synthetic.SyntheticDub:
    """One container: the original and one dub track per known fault (synthetic.CASES), with a sidecar."""
    return synthetic.build(tmp_path_factory.mktemp("qc") / "harbour.dub.mkv")
