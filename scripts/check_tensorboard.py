#!/usr/bin/env python3
"""Reads a `kiln train --tensorboard DIR` directory with TensorBoard's own reader.

    python3 scripts/check_tensorboard.py DIR

prints each scalar tag with its number of points and its steps, e.g.

    epoch/train_loss  3 points  steps 1..3

and exits 1 when DIR has no scalars or a tag repeats a step. Without the `tensorboard` package
(PyPI) it says so and exits 0: CI does not install it; the C++ tests read the files with a
reader of their own (tests/runtime/tfevents_reader.h).
"""
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: check_tensorboard.py DIR")
        return 2
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        print("tensorboard is not installed (pip install tensorboard); nothing checked")
        return 0
    # size_guidance 0: keep every point (the default samples scalars down to 10,000).
    accumulator = event_accumulator.EventAccumulator(
        sys.argv[1], size_guidance={event_accumulator.SCALARS: 0})
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    if not tags:
        print(f"{sys.argv[1]}: no scalars")
        return 1
    ok = True
    for tag in sorted(tags):
        steps = [event.step for event in accumulator.Scalars(tag)]
        print(f"{tag}  {len(steps)} points  steps {min(steps)}..{max(steps)}")
        if len(set(steps)) != len(steps):
            print(f"{tag}: repeated steps {sorted(steps)}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
