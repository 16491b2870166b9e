"""Side-by-side benchmarks: each ``benchmarks/<name>.py`` runs ours and a peer in one run.

Contract: ``python benchmarks/<name>.py [--quick]``; ``--quick`` finishes in under a
minute on 2 cores; the last stdout line is one JSON object with at least
``name, ours_s, peer, peer_s, ratio`` (ratio = ours / peer, lower is better).
``python -m benchmarks --quick`` runs them all and prints a table.
"""
