"""How another camera reaches the model: each channel's contrast in the normalised photograph, as taken and altered.

The normalisation (4 x photograph - 4 x its blur + 128) subtracts the local
background, so a camera's gamma or colour cast reaches the normalised
photograph as each channel's departure from the grey (128) times a factor:
the cast itself for a colour cast, about g x background ** (g - 1) for a gamma
g, which varies with the background's brightness. This measures those
factors on IDRiD's validation photographs (benchmark idrid.py's alterations):
per channel, the ratio of each pixel's departure after the alteration to its
departure as taken, over the pixels that depart by more than --min-departure
levels and clip neither time, and the share of them that the parser's
aug_channel_contrast range covers (lesion_parser.Parser).

    python benchmarks/camera_contrast.py [--manual-dir ../shared/idrid] [--contrast 0.6 1.7]
"""

import argparse
import pathlib

import idrid as idrid_benchmark  # benchmarks/idrid.py: the camera table's alterations
import numpy as np
import tensorflow as tf

from retina_tf.data import eophtha, fundus, idrid

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHANNELS = ("red", "green", "blue")
PHOTOMETRIC = ("gamma 0.7", "gamma 1.4", "colour cast (R x1.1, B x0.8)")


def departure_ratios(taken: np.ndarray, altered: np.ndarray, grey: float, min_departure: float) -> list[np.ndarray]:
    """Per channel, altered departure from grey over the departure as taken, where that departs and neither clips."""
    taken, altered = taken.astype(np.float64) - grey, altered.astype(np.float64) - grey
    ratios = []
    for channel in range(3):
        before, after = taken[..., channel], altered[..., channel]
        unclipped = (np.abs(before + grey - 127.5) < 127) & (np.abs(after + grey - 127.5) < 127)
        kept = unclipped & (np.abs(before) >= min_departure)
        ratios.append(after[kept] / before[kept])
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manual-dir", type=pathlib.Path, default=ROOT.parent / "shared" / "idrid")
    parser.add_argument("--size", type=int, default=1024, help="the normalised photograph's side")
    parser.add_argument("--min-departure", type=float, default=12.0,
                        help="levels from the grey a pixel must depart as taken (rounding to whole levels makes "
                             "ratios of smaller departures noisy)")
    parser.add_argument("--contrast", type=float, nargs=2, default=(0.6, 1.7), metavar=("LOW", "HIGH"),
                        help="the aug_channel_contrast range to report the coverage of")
    args = parser.parse_args()

    config = fundus.FundusNormalisation(output_size=args.size)
    normalise = fundus.photograph_normaliser(config)
    validation = idrid.split_photographs(idrid.scan(args.manual_dir))["validation"]
    pooled = {name: [[] for _ in CHANNELS] for name in PHOTOMETRIC}
    for photograph in validation:
        image = eophtha.read_photograph(photograph.path)
        taken = normalise(tf.constant(image))[0].numpy()
        for name in PHOTOMETRIC:
            altered = normalise(tf.constant(idrid_benchmark.ALTERATIONS[name](image)))[0].numpy()
            for channel, ratios in enumerate(departure_ratios(taken, altered, config.offset, args.min_departure)):
                pooled[name][channel].append(ratios)
        print(f"  IDRiD_{photograph.number:02d} done", flush=True)

    low, high = args.contrast
    print(f"\n{len(validation)} validation photographs normalised at {args.size} px: each channel's departure from "
          f"the grey after the alteration over before, percentiles 5 / 50 / 95 (pixels departing >= "
          f"{args.min_departure:g} levels, unclipped); in brackets the share within [{low:g}, {high:g}]")
    print("| alteration | " + " | ".join(CHANNELS) + " |\n|---|---|---|---|")
    for name in PHOTOMETRIC:
        cells = []
        for parts in pooled[name]:
            ratios = np.concatenate(parts)
            p5, p50, p95 = np.percentile(ratios, [5, 50, 95])
            covered = np.mean((ratios >= low) & (ratios <= high))
            cells.append(f"{p5:.2f} / {p50:.2f} / {p95:.2f} ({covered:.0%})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
