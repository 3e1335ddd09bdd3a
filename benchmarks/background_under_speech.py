"""background_under_speech validated on clips with known stems: the metric vs the true error of the bed
under the speech, for separators of falling quality (lssd.qc.synthetic.separated_beds), on a few beds.

    .venv/bin/python benchmarks/background_under_speech.py [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import resource

from scipy.stats import spearmanr

from lssd.backends.vad import to_mono16k
from lssd.qc import synthetic
from lssd.qc.background import under_speech
from lssd.qc.thresholds import BY_NAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    metric = BY_NAME["background_under_speech"]
    print(f"{'bed':>4s} {'separator':18s} {'true error dB':>14s} {'metric dB':>10s} status")
    for seed in (int(s) for s in args.seeds.split(",")):
        stems = synthetic.known_stems(seed=seed)
        orig = to_mono16k(stems.mix, stems.sr)
        rows = []
        for name, bed in synthetic.separated_beds(stems).items():
            value = under_speech(to_mono16k(bed + stems.dub_speech[None, :], stems.sr), orig, 16_000, stems.spans)
            rows.append((name, synthetic.true_bed_error(bed, stems), value))
            print(f"{seed:4d} {name:18s} {rows[-1][1]:14.1f} {value:10.1f} {metric.status(value)}")
        rank = spearmanr([r[1] for r in rows[1:]], [r[2] for r in rows[1:]]).statistic
        print(f"{'':4s} Spearman rank correlation, metric vs truth (true bed left out): {rank:.2f}")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"CPU {cpu.ru_utime + cpu.ru_stime:.1f} s")


if __name__ == "__main__":
    main()
