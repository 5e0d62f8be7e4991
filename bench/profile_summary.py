"""Summarise a py-spy raw (collapsed stacks) profile: top functions by self and total samples, and the share
of a few libraries (by the innermost frame that belongs to one of them).

    .venv/bin/python bench/profile_summary.py /tmp/gateway.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")

# (name, substring of the frame's file) -- the innermost frame matching decides
CATEGORIES = (
    ("quickfix (SWIG binding)", "quickfix"),
    ("asyncpg", "asyncpg/"),
    ("structlog / logging", "structlog/"),
    ("structlog / logging", "logging/"),
    ("json", "json/"),
    ("decimal", "decimal"),
    ("uuid", "uuid.py"),
    ("dataclasses", "dataclasses.py"),
    ("datetime", "datetime"),
    ("redis", "redis/"),
    ("asyncio", "asyncio/"),
)


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for part in stack.split(";"):
            m = FRAME.match(part)
            frames.append((m["fn"], m["file"]) if m else (part, ""))
        stacks.append((frames, int(count)))
    return stacks


def category(frames: list[tuple[str, str]]) -> str:
    for _, file in reversed(frames):
        for name, needle in CATEGORIES:
            if needle in file:
                return name
        if file.startswith(("gateway/", "fixsession/", "ledger/", "audit/", "exchange/", "marketdata/")):
            return "project code (self)"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    stacks = parse(args.profile)
    total = sum(n for _, n in stacks)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    for frames, n in stacks:
        if frames:
            fn, file = frames[-1]
            own[f"{fn} ({file})"] += n
        for key in {f"{fn} ({file})" for fn, file in frames}:
            inclusive[key] += n
        cats[category(frames)] += n
    print(f"{total} samples")
    print("\nshare by library (innermost frame):")
    for name, n in cats.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"\ntop {args.top} by self:")
    for key, n in own.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {key}")
    print(f"\ntop {args.top} by total:")
    for key, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {key}")


if __name__ == "__main__":
    main()
