"""Writes the example's input: JSON log lines over three files, one gzipped.

Deterministic for a given seed. About 2% of lines are malformed JSON, 1%
lack an ``id`` and 10% are DEBUG lines, so a run shows every outcome.
Usage: python3 generate.py OUT_DIR [--lines-per-file N] [--seed S]
"""

import argparse
import gzip
import json
import pathlib
import random

LEVELS = ["INFO"] * 6 + ["WARN"] * 2 + ["ERROR"] + ["DEBUG"]
HOSTS = [f"web-{n:02d}" for n in range(8)]
WORDS = "request served cache miss retry upstream timeout user login payment queue".split()


def line(rng: random.Random, index: int) -> str:
    roll = rng.random()
    if roll < 0.02:
        return '{"ts": 17000, "level": "INFO", "msg": "truncated'
    entry = {
        "ts": 1_700_000_000_000 + index * 37,
        "level": "DEBUG" if roll < 0.12 else rng.choice(LEVELS[:-1]),
        "host": rng.choice(HOSTS),
        "msg": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))),
    }
    if not 0.12 <= roll < 0.13:
        entry["id"] = f"{rng.getrandbits(64):016x}"
    return json.dumps(entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--lines-per-file", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for number, opener in ((1, open), (2, open), (3, gzip.open)):
        name = f"logs-{number:04d}.jsonl" + (".gz" if opener is gzip.open else "")
        with opener(args.out_dir / name, "wt", encoding="utf-8") as out:
            for index in range(args.lines_per_file):
                out.write(line(rng, number * args.lines_per_file + index) + "\n")


if __name__ == "__main__":
    main()
