"""The simulation imports itself as ``tests.sim`` (as ``python -m tests.sim`` does): make the repository root
importable even under a bare ``pytest`` (``python -m pytest`` has it already)."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
