"""The fuzz helpers (``fix_fuzz``) import as a plain module, like tests/integration/fix's helpers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
