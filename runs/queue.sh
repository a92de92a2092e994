#!/usr/bin/env bash
# The names records, one after the other on one thread; rerun to resume where it stopped.
cd "$(dirname "$0")/.."
for name in decoder lstm_attention lstm_names gru tanh; do
  [ -f runs/$name/record.json ] && continue
  OMP_NUM_THREADS=1 .venv/bin/python -m autoregressive.record train $name --threads 1 >> runs/$name.log 2>&1 || exit 1
done
