"""Print the figures the foundation promises: data load time and each chapter's run time.

    .venv/bin/python benchmarks/chapters.py            # quick mode (what the tests run)
    .venv/bin/python benchmarks/chapters.py --full     # full mode (what `make outputs` runs)

Goals: a cached MNIST load well under a second; every chapter under 60 s in quick mode on a
2-core CPU; a few minutes at most in full mode. The figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def time_data_load() -> float:
    code = (
        "import time; from autoregressive import data; data._default_arrays();"
        "t = time.perf_counter(); data.load_mnist_arrays(); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def time_chapter(path: Path, quick: bool) -> float:
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    os.environ["AUTOREGRESSIVE_QUICK"] = "1" if quick else "0"
    client = nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the chapters in full mode")
    args = parser.parse_args()
    print(f"cached MNIST load: {time_data_load():.2f} s")
    mode = "full" if args.full else "quick"
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        print(f"{path.stem:24} {mode} mode: {time_chapter(path, quick=not args.full):6.1f} s "
              "(kernel start included)")


if __name__ == "__main__":
    main()
