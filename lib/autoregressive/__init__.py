"""autoregressive: the models, data and tools behind the book *Autoregressive Models, Runnable*.

One protocol serves every density model (``log_prob``, ``sample``, the conditionals), and one
training loop, evaluation, plotting and set of widgets serve every chapter.
"""

from . import (  # the modules whose models checkpoints must find, and the results table
    attention, pixelrnn, representation, results, rnn, text)
from .autoencoder import Autoencoder, dependency_matrix
from .base import (
    Autoregressive,
    BinaryAutoregressive,
    CategoricalAutoregressive,
    DensityModel,
    check_binary,
    check_categorical,
)
from .data import (
    binarized_mnist,
    coloured_mnist,
    dynamic_binarize,
    grey_mnist,
    mnist_labels,
    quantized_mnist,
)
from .fvsbn import FVSBN
from .independent import IndependentBernoulli
from .layers import MaskedLinear
from .made import MADE, MaskEnsemble
from .nade import NADE
from .pixelrnn import ColourPixelRNN, PixelRNN
from .rnade import RNADE
from .rnn import BinaryRNN, CharRNN
from .softmax_nade import SoftmaxNADE
from .runtime import (budget, device, multiply_adds, quick_mode, seconds_over_sizes, seconds_per_call,
                      seed_everything)
from .text import Bigram, Vocabulary, names_corpus
from .train import Evaluation, History, evaluate, fit, load, save, training_speed

__version__ = "0.1.0"

__all__ = [
    "Bigram", "BinaryRNN", "CharRNN", "ColourPixelRNN", "PixelRNN", "coloured_mnist", "pixelrnn",
    "results", "attention", "Vocabulary", "names_corpus", "representation", "rnn",
    "text",
    "Autoencoder", "Autoregressive", "BinaryAutoregressive", "CategoricalAutoregressive", "RNADE", "SoftmaxNADE",
    "check_categorical", "DensityModel", "Evaluation", "FVSBN", "History",
    "IndependentBernoulli", "MADE", "MaskEnsemble", "MaskedLinear", "NADE", "binarized_mnist", "budget", "check_binary", "dependency_matrix", "device",
    "dynamic_binarize", "evaluate", "fit", "grey_mnist", "load", "mnist_labels", "quantized_mnist",
    "multiply_adds", "quick_mode", "save", "seconds_over_sizes", "seconds_per_call", "seed_everything", "training_speed",
]
