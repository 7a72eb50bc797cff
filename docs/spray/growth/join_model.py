#!/usr/bin/env python3
"""Spray's join rule alone, without a network and without shuffles.

A newcomer o joins through a contact c drawn uniformly among the members;
every arc c -> q of c's view becomes an arc q -> o (q's view grows by one),
and o gets o -> c. If c's view is empty, c -> o and o -> c. Shuffles move
arcs but never change their number, so the mean view after N joins
(arcs / N) is what a run keeps for good (crashes aside).

    python3 docs/spray/growth/join_model.py N RUNS [SEED]

prints the mean, standard deviation, minimum and maximum of the mean view
over RUNS independent growths of N peers.
"""
import random
import statistics
import sys


def grow(n: int, rng: random.Random) -> float:
    views = [[]]  # views[i]: the targets of i's arcs, with multiplicity
    for o in range(1, n):
        c = rng.randrange(o)
        views.append([c])
        if not views[c]:
            views[c].append(o)
        else:
            for q in views[c]:
                views[q].append(o)
    return sum(len(v) for v in views) / n


def main() -> None:
    n, runs = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
    means = [grow(n, rng) for _ in range(runs)]
    print(
        f"N {n}, {runs} runs: mean view {statistics.mean(means):.2f}, "
        f"sd {statistics.stdev(means):.2f}, min {min(means):.2f}, max {max(means):.2f}"
    )


if __name__ == "__main__":
    main()
