"""Test settings: the tests, and every notebook kernel they start, run in quick mode."""

import os

os.environ["AUTOREGRESSIVE_QUICK"] = "1"
