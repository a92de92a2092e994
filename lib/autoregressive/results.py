"""The book's own results, for later chapters to set beside their models.

Each figure is one that an earlier chapter printed in its stored full run: test NLL in nats
on binarized MNIST, and test nats per character on the names (end token included).
``tests/test_notebooks.py`` reads those chapters' stored outputs and fails when a figure here
no longer matches them (after a chapter is re-run, update this table with it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BookResult:
    value: float  # the figure: nats per image (MNIST) or nats per character (names)
    chapter: str  # the chapter notebook that prints it
    printed: str  # words on the line of its stored output that also holds the figure
    setup: str  # what was trained, in a few words
    decimals: int = 2  # how the chapter prints the figure
    parameters: int | None = None  # the model's free parameters, where the chapter prints them
    seconds: float | None = None  # its training time there, seconds (that run's machine)

    @property
    def nats(self) -> float:
        return self.value

    @property
    def figure(self) -> str:
        """The figure as the chapter prints it."""
        return f"{self.value:.{self.decimals}f}"


MNIST_TEST_NLL = {
    "FVSBN": BookResult(98.74, "02_fvsbn.ipynb", "L-BFGS, at the optimum of J",
                        "logistic conditionals, L-BFGS to the optimum"),
    "NADE": BookResult(91.80, "03_nade.ipynb", "test NLL:", "500 sigmoid units, Adam"),
    "MADE": BookResult(92.50, "07_made.ipynb", "MADE, one mask:",
                       "one layer of 500 units, one mask"),
    "RNN (LSTM)": BookResult(107.12, "08_rnn.ipynb", "LSTM over pixels, test NLL:",
                             "an LSTM over the pixels; 2,000 test images"),
    "PixelCNN": BookResult(97.15, "09_pixelrnn.ipynb", "PixelCNN:",
                           "h = 16, 4 blocks, 2 passes over 25,000"),
    "Row LSTM": BookResult(95.31, "09_pixelrnn.ipynb", "Row LSTM:",
                           "h = 16, 1 layer, 2 passes over 25,000"),
    "Diagonal BiLSTM": BookResult(91.56, "09_pixelrnn.ipynb", "Diagonal BiLSTM:",
                                  "h = 16, 1 layer, 2 passes over 25,000"),
}

NAMES_TEST_NATS = {  # the names corpus of chapter 8, its test split (9,191 names)
    "bigram, add-one": BookResult(2.563, "08_rnn.ipynb", "bigram, add-one",
                                  "counts, +1 smoothing", 3, 729, 0.0),
    "tanh RNN": BookResult(2.236, "08_rnn.ipynb", "tanh RNN   ", "H = 128, 4 epochs",
                           3, 23_451, 8.3),
    "LSTM": BookResult(2.169, "08_rnn.ipynb", "LSTM   ", "H = 128, 4 epochs", 3, 84_123, 17.4),
    "GRU": BookResult(2.165, "08_rnn.ipynb", "GRU   ", "H = 128, 4 epochs", 3, 63_899, 24.2),
}
