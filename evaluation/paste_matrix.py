"""Put the matrix of the latest evaluation into docs/evaluation.md.

    veilleur evaluate --truth ... --all-situations --out out/evaluation   # or: make evaluate
    python evaluation/paste_matrix.py [out/evaluation/matrix.md] [docs/evaluation.md]

Replaces the lines between the `<!-- matrix:begin ... -->` and `<!-- matrix:end -->` markers;
the analysis of the non-zero cells below them is written by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from veilleur.evaluation.matrix import paste_into

HERE = Path(__file__).resolve().parent


def main() -> None:
    matrix = Path(sys.argv[1] if len(sys.argv) > 1 else "out/evaluation/matrix.md")
    doc = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parent / "docs" / "evaluation.md"
    doc.write_text(paste_into(doc.read_text(encoding="utf-8"), matrix.read_text()), "utf-8")
    print(f"{doc}: matrix from {matrix}")


if __name__ == "__main__":
    main()
