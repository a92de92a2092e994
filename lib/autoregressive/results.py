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
    "FVSBN": BookResult(98.74, "02_fvsbn.ipynb", "L-BFGS, 490 iterations, short of it",
                        "logistic conditionals, L-BFGS, 490 iterations"),
    "NADE": BookResult(91.82, "03_nade.ipynb", "test NLL:", "500 sigmoid units, Adam"),
    "MADE": BookResult(92.50, "07_made.ipynb", "MADE, one mask:",
                       "one layer of 500 units, one mask"),
    "RNN (LSTM)": BookResult(107.44, "08_rnn.ipynb", "LSTM over pixels, test NLL:",
                             "an LSTM over the pixels; 2,000 test images"),
    "PixelCNN": BookResult(97.11, "09_pixelrnn.ipynb", "PixelCNN:",
                           "h = 16, 4 blocks, 2 passes over 25,000"),
    "Row LSTM": BookResult(95.08, "09_pixelrnn.ipynb", "Row LSTM:",
                           "h = 16, 1 layer, 2 passes over 25,000"),
    "Diagonal BiLSTM": BookResult(91.61, "09_pixelrnn.ipynb", "Diagonal BiLSTM:",
                                  "h = 16, 1 layer, 2 passes over 25,000"),
    "Gated PixelCNN": BookResult(96.32, "09_pixelrnn.ipynb", "Gated PixelCNN:",
                                 "h = 5, 4 layers, 2 passes over 25,000"),
    "pixel transformer": BookResult(140.38, "10_attention.ipynb", "test NLL:",
                                    "d = 32, 4 heads, 2 blocks, 2 passes over 10,000"),
}

NAMES_TEST_NATS = {  # the names corpus of chapter 8, its test split (9,191 names)
    "bigram, add-one": BookResult(2.563, "08_rnn.ipynb", "bigram, add-one",
                                  "counts, +1 smoothing", 3, 729, 0.0),
    "tanh RNN": BookResult(2.236, "08_rnn.ipynb", "tanh RNN   ", "H = 128, 4 epochs",
                           3, 23_451, 14.9),
    "LSTM": BookResult(2.169, "08_rnn.ipynb", "LSTM   ", "H = 128, 4 epochs", 3, 84_123, 29.1),
    "GRU": BookResult(2.165, "08_rnn.ipynb", "GRU   ", "H = 128, 4 epochs", 3, 63_899, 36.4),
    "LSTM + attention": BookResult(2.166, "10_attention.ipynb", "LSTM + attention   ",
                                   "H = 128, keys of 32, 4 epochs", 3, 95_771, 36.6),
    "decoder": BookResult(2.156, "10_attention.ipynb", "transformer   ",
                          "d = 64, 4 heads, 2 blocks, 4 epochs", 3, 104_539, 59.6),
}


# ---------------------------------------------------------------------------------------------
# Published figures, with their sources and setups (as the papers give them)


@dataclass(frozen=True)
class Published:
    value: float  # the figure: nats per image (binarized MNIST) or per character (names)
    source: str  # the paper and where in it
    setup: str  # what was trained, and how, in a few words
    bound: str = "exact"  # "exact" NLL, or what else the figure is ("upper bound", "approximate")


PUBLISHED_MNIST = {  # binarized MNIST (Salakhutdinov & Murray's draw), test NLL in nats
    "FVSBN": Published(97.45, "Larochelle & Murray 2011, section 6.2", "trained by SGD"),
    "NADE": Published(88.86, "Larochelle & Murray 2011, section 6.2",
                      "500 sigmoid units, SGD, lr 0.0005"),
    "NADE (ReLU)": Published(88.33, "Uria, Murray & Larochelle 2014, Table 2",
                             "fixed order, ReLU units, minibatches"),
    "EoNADE 2hl, 128 orderings": Published(85.10, "Uria et al. 2014, Table 2",
                                           "an ensemble of 128 orderings"),
    "MADE, one mask": Published(88.40, "Germain et al. 2015, Table 6",
                                "1 hidden layer, 1 mask; 8000 ReLU units, Adagrad"),
    "MADE, 32 masks": Published(86.64, "Germain et al. 2015, Table 6",
                                "2 hidden layers, 32 masks, order-agnostic; 8000 units"),
    "PixelCNN": Published(81.30, "van den Oord et al. 2016, Table 4",
                          "the paper's PixelCNN for MNIST"),
    "Row LSTM": Published(80.54, "van den Oord et al. 2016, Table 4",
                          "the paper's Row LSTM for MNIST"),
    "Diagonal BiLSTM": Published(79.20, "van den Oord et al. 2016, Table 4",
                                 "7 layers, h = 16, RMSProp, batch 16"),
    "Diagonal BiLSTM, 1 layer": Published(80.75, "van den Oord et al. 2016, Table 4",
                                          "1 layer, h = 32"),
    "DRAW": Published(80.97, "Gregor et al. 2015, Table 2", "a variational model",
                      "upper bound"),
}

PUBLISHED_NAMES = {  # names, nats per character with the end token (other lists of names)
    "makemore transformer": Published(1.92, "karpathy/makemore README",
                                      "32,032 US first names, ~200k parameters, 4 layers"),
    "bigram, add-one": Published(2.45, "a third-party reproduction on makemore's names",
                                 "counts, +1 smoothing", "approximate"),
}


# ---------------------------------------------------------------------------------------------
# One table for the whole book: the live runs, the models of record and the papers


@dataclass(frozen=True)
class Row:
    """One model across the book: ``live`` (its chapter's run), ``record`` (the shipped model
    of record's record, a dict; None until it is shipped, or where ``of_record`` is False: a
    model trained in its chapter only) and ``published``."""

    model: str
    chapter: str
    live: BookResult | None
    record: dict | None
    published: Published | None
    of_record: bool = True


# model: (key in MNIST_TEST_NLL / NAMES_TEST_NATS, name of record or None, key in PUBLISHED_*)
MNIST_ROWS = {
    "FVSBN": ("FVSBN", "fvsbn", "FVSBN"),
    "NADE": ("NADE", "nade", "NADE"),
    "MADE, one mask": ("MADE", "made", "MADE, one mask"),
    "MADE, order-agnostic": (None, "made_agnostic", "MADE, 32 masks"),
    "LSTM over pixels": ("RNN (LSTM)", "lstm", None),
    "PixelCNN": ("PixelCNN", "pixelcnn", "PixelCNN"),
    "Row LSTM": ("Row LSTM", "row_lstm", "Row LSTM"),
    "Diagonal BiLSTM": ("Diagonal BiLSTM", "diagonal_bilstm", "Diagonal BiLSTM"),
    "gated PixelCNN": ("Gated PixelCNN", None, None),  # chapter 9's run only
    "pixel transformer": ("pixel transformer", "pixel_transformer", None),
}
COLOUR_ROWS = {  # 14 x 14 coloured MNIST at 256 levels (the live runs use 16 levels: no live row)
    "colour, R→G→B": (None, "colour_rgb", None),
    "colour, independent channels": (None, "colour_independent", None),
}
NAMES_ROWS = {
    "bigram, add-one": ("bigram, add-one", "bigram", "bigram, add-one"),
    "tanh RNN": ("tanh RNN", "tanh", None),
    "LSTM": ("LSTM", "lstm_names", None),
    "GRU": ("GRU", "gru", None),
    "LSTM + attention": ("LSTM + attention", "lstm_attention", None),
    "decoder": ("decoder", "decoder", None),
}


def book_table(data: str = "mnist", records: dict | None = None) -> list[Row]:
    """The rows of the book's table for ``data`` ("mnist", "colour" or "names"); ``records``
    defaults to the shipped models of record (:func:`autoregressive.record.index`)."""
    if data not in ("mnist", "colour", "names"):
        raise ValueError(f"data must be 'mnist', 'colour' or 'names', got {data!r}")
    if records is None:
        from .record import index
        records = index()
    rows, live, published = {"mnist": (MNIST_ROWS, MNIST_TEST_NLL, PUBLISHED_MNIST),
                             "colour": (COLOUR_ROWS, {}, {}),
                             "names": (NAMES_ROWS, NAMES_TEST_NATS, PUBLISHED_NAMES)}[data]
    from .record import CONFIGS
    table = []
    for model, (live_key, record_name, published_key) in rows.items():
        chapter = (CONFIGS[record_name].chapter if record_name
                   else live[live_key].chapter.removesuffix(".ipynb"))
        table.append(Row(model, chapter, live.get(live_key), records.get(record_name),
                         published.get(published_key), of_record=record_name is not None))
    return table


# ---------------------------------------------------------------------------------------------
# The table as readers see it: Markdown on the website and in Colab, aligned text elsewhere


class Table:
    """Rows of strings under a header, shown as a Markdown table by notebook front ends (the
    website keeps its columns at any width) and as aligned plain text where Markdown is not
    rendered."""

    def __init__(self, header: list[str], rows: list[list[str]], note: str = ""):
        if any(len(row) != len(header) for row in rows):
            raise ValueError("every row needs one entry per column of the header")
        self.header, self.rows, self.note = header, rows, note

    def _repr_markdown_(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "")

    def __repr__(self) -> str:
        widths = [max(len(r[k]) for r in [self.header, *self.rows]) for k in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                 for row in [self.header, *self.rows]]
        return "\n".join(lines) + (f"\n{self.note}" if self.note else "")


def _figure(record: dict | None, decimals: int) -> str:
    if record is None:
        return "not yet"
    test = record["test"]
    return f"{test.get('nats', test.get('nats_per_character')):.{decimals}f}"


def likelihood_table(data: str = "mnist", records: dict | None = None) -> Table:
    """Test NLL of every model: its chapter's live run, its model of record, the paper's."""
    decimals = 3 if data == "names" else 2
    unit = "nats per character" if data == "names" else "nats per image"
    rows = []
    for row in book_table(data, records):
        live = "—" if row.live is None else f"{row.live.value:.{decimals}f}"
        paper = "—" if row.published is None else (
            f"{row.published.value:.{decimals}f}"
            + ("" if row.published.bound == "exact" else f" ({row.published.bound})"))
        record = _figure(row.record, decimals) if row.of_record else "—"
        rows.append([row.model, row.chapter[:2], live, record, paper])
    return Table(["model", "ch.", "live", "of record", "published"], rows,
                 f"Test NLL, {unit}; lower is better.\nOf record: 'not yet', a run still "
                 "to come; '—', a model trained in its chapter only.")


def compute_table(data: str = "mnist", records: dict | None = None) -> Table:
    """What each model of record cost: parameters, examples seen, time and hardware."""
    rows = []
    for row in book_table(data, records):
        r = row.record
        if r is None:
            rows.append([row.model, "—", "—", "—", "—"])
            continue
        rows.append([row.model, f"{r['parameters']:,}", f"{r['examples_seen'] / 1e6:.2f} M "
                     f"({r['passes']:.0f} pass{'' if round(r['passes']) == 1 else 'es'})", f"{r['seconds'] / 3600:.2f} h",
                     r["hardware"]])
    return Table(["model", "parameters", "examples seen", "time", "hardware"], rows)


def published_table(data: str = "mnist") -> Table:
    """The published figures the book sets beside its own, with their sources and setups."""
    published = PUBLISHED_MNIST if data == "mnist" else PUBLISHED_NAMES
    decimals = 3 if data == "names" else 2
    return Table(["model", "figure", "source", "setup"],
                 [[name, f"{p.value:.{decimals}f}" + ("" if p.bound == "exact" else "*"),
                   p.source, p.setup] for name, p in published.items()],
                 "* not an exact NLL: an upper bound or an approximation.")
