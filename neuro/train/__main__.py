"""``python -m neuro.train`` (also what ``torchrun -m neuro.train`` runs)."""

from .cli import main

raise SystemExit(main())
