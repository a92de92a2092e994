"""The book's own results on binarized MNIST, for later chapters to set beside their models.

Each figure is the test NLL (nats) that an earlier chapter printed in its stored full run;
``tests/test_notebooks.py`` reads those chapters' stored outputs and fails when a figure here
no longer matches them (after a chapter is re-run, update this table with it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BookResult:
    nats: float  # test NLL, nats per image
    chapter: str  # the chapter notebook that prints it
    printed: str  # words on the line of its stored output that also holds "{nats:.2f} nats"
    setup: str  # what was trained, in a few words


MNIST_TEST_NLL = {
    "FVSBN": BookResult(98.74, "02_fvsbn.ipynb", "L-BFGS, at the optimum of J",
                        "logistic conditionals, L-BFGS to the optimum"),
    "NADE": BookResult(91.80, "03_nade.ipynb", "test NLL:",
                       "500 sigmoid units, Adam"),
    "MADE": BookResult(92.50, "07_made.ipynb", "MADE, one mask:",
                       "one layer of 500 units, one mask"),
    "RNN (LSTM)": BookResult(107.12, "08_rnn.ipynb", "LSTM over pixels, test NLL:",
                             "an LSTM over 784 pixels, two epochs; 2,000 test images"),
}
