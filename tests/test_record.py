"""Models of record: a run that is stopped and resumed ends exactly where an uninterrupted run
ends; the record says what the run did; shipping stores float16 only where it costs less than
0.05 nats; and every shipped checkpoint loads, matches its sha256 and re-evaluates to its
recorded figure."""

from __future__ import annotations

import json

import pytest
import torch

import autoregressive as ar
from autoregressive import record
from autoregressive.record import Config, Data, Run


def tiny_data() -> Data:
    g = torch.Generator().manual_seed(0)
    grey = torch.rand(60, 6, generator=g)
    binary = lambda rows: torch.bernoulli(torch.full((rows, 6), 0.3), generator=g)  # noqa: E731
    return Data(grey, binary(20), binary(30), "image")


TINY = Config("tiny", "tiny NADE", "03_nade", lambda: ar.NADE(6, hidden=4), tiny_data,
              "4 units", batch_size=8, lr=0.05, dynamic_binarization=True)


def quiet(*_):
    pass


def test_the_schedule_warms_up_then_decays_to_its_floor():
    total = 1000
    rates = [record.learning_rate(TINY, seen, total) for seen in range(0, total + 1, 10)]
    peak = max(rates)
    assert rates[0] == 0 and peak == pytest.approx(TINY.lr)
    top = rates.index(peak)
    assert top * 10 == pytest.approx(TINY.warmup * total, abs=10)
    assert all(a <= b for a, b in zip(rates[:top], rates[1:top + 1]))  # warm-up rises
    assert all(a >= b for a, b in zip(rates[top:], rates[top + 1:]))  # then only falls
    assert rates[-1] == pytest.approx(TINY.lr * TINY.final_lr)


def test_a_stopped_run_resumes_where_an_unbroken_run_would_be(tmp_path):
    whole = Run(TINY, tmp_path / "whole", log=quiet).train(examples=200)
    broken = Run(TINY, tmp_path / "broken", log=quiet)
    stops = 0
    while (done := broken.train(examples=200, stop_after=0)) is None:  # a step per call
        stops += 1
    assert stops >= 20  # it really was stopped (200 examples in batches of 8: 25 steps)
    assert done["examples_seen"] == whole["examples_seen"] >= 200
    assert done["test"]["nats"] == whole["test"]["nats"]  # the same arithmetic, step by step
    a, b = ar.load(tmp_path / "whole" / "model.pt"), ar.load(tmp_path / "broken" / "model.pt")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


def test_the_record_says_what_the_run_did(tmp_path):
    done = Run(TINY, tmp_path, log=quiet).train(examples=120)
    stored = json.loads((tmp_path / "record.json").read_text())
    assert stored == json.loads(json.dumps(done))
    model = ar.load(tmp_path / "model.pt")
    data = tiny_data()
    assert done["test"]["nats"] == pytest.approx(ar.evaluate(model, data.test).nats, abs=1e-9)
    assert done["test"]["bits"] == pytest.approx(done["test"]["nats"] / 6 / 0.6931471805599453)
    assert done["test_first_500"] == pytest.approx(done["test"]["nats"])  # 30 rows < 500
    assert done["parameters"] == model.num_parameters() and done["examples_seen"] == 120
    assert done["passes"] == pytest.approx(2.0) and done["seconds"] > 0
    assert done["hardware"] and done["torch"] == torch.__version__
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    best = min(valid for _, _, valid in state["history"])
    assert state["best_valid"] == best  # the weights kept are the best validated ones
    torch.testing.assert_close(ar.evaluate(model, data.valid).nats, best, rtol=0, atol=1e-9)


def test_a_budget_is_hours_or_examples_not_both(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        Run(TINY, tmp_path, log=quiet).train(hours=1.0, examples=10)
    with pytest.raises(ValueError, match="hours"):
        Run(TINY, tmp_path / "b", log=quiet).train(hours=True)


def test_a_state_of_another_configuration_is_refused(tmp_path):
    Run(TINY, tmp_path, log=quiet).train(examples=16, stop_after=0)
    other = Config("other", "other", "03_nade", TINY.build, tiny_data, "")
    with pytest.raises(ValueError, match="holds a run of 'tiny'"):
        Run(other, tmp_path, log=quiet).train(examples=16)


def test_shipping_stores_float16_when_it_costs_little(tmp_path, monkeypatch):
    monkeypatch.setitem(record.CONFIGS, "tiny", TINY)
    monkeypatch.setattr(record, "_shipped", lambda: tmp_path / "shipped")
    Run(TINY, tmp_path / "run", log=quiet).train(examples=120)
    shipped = record.ship("tiny", tmp_path / "run")
    assert shipped["storage"] == "float16" and abs(shipped["storage_cost"]) < 0.05
    model, stored = record.load_record("tiny")
    assert stored == shipped and model.dtype == torch.float32
    assert record.index() == {"tiny": shipped}
    (tmp_path / "shipped" / "tiny.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="sha256"):
        record.load_record("tiny")


def test_every_configuration_builds_and_names_its_chapter():
    chapters = {p.stem for p in (record.Path(__file__).parent.parent / "chapters").glob("*.ipynb")}
    for name, config in record.CONFIGS.items():
        assert config.name == name and config.chapter in chapters, name
        if config.method == "adam":
            assert config.build().num_parameters() > 0, name


SHIPPED = sorted(record.index())


def test_the_index_and_the_shipped_files_agree():
    files = {p.stem for p in record._shipped().glob("*.pt")} - {"classifier"}  # quality's
    assert files == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_of_record_loads_and_gives_its_recorded_figure(name):
    model, stored = record.load_record(name)
    config = record.CONFIGS[name]
    judged = config.evaluate_as(model) if config.evaluate_as else model
    test = config.data().test[:record.FIRST]
    figure = Run(config, log=quiet)._nll(judged, test)
    assert figure == pytest.approx(stored[f"test_first_{record.FIRST}"], abs=0.01)


@pytest.mark.parametrize("data", ["mnist", "colour", "names"])
def test_the_book_table_has_a_row_per_model_of_record(data):
    from autoregressive import results
    rows = results.book_table(data)
    loaders = {"mnist": (record.mnist, record.mnist_fixed), "colour": (record.colour,),
               "names": (record.names,)}[data]
    wanted = {c.name for c in record.CONFIGS.values() if c.data in loaders}
    named = {name for _, name, _ in {"mnist": results.MNIST_ROWS, "colour": results.COLOUR_ROWS,
                                     "names": results.NAMES_ROWS}[data].values()} - {None}
    assert named == wanted  # every configuration of record has its row, and only those
    shown = results.likelihood_table(data, records={}).rows  # no record shipped yet
    assert [r[3] for r in shown] == ["not yet" if row.of_record else "—" for row in rows]
    assert [row.of_record for row in rows] == [name is not None for _, name, _ in
                                               {"mnist": results.MNIST_ROWS,
                                                "colour": results.COLOUR_ROWS,
                                                "names": results.NAMES_ROWS}[data].values()]
    for row in rows:
        assert row.record is None or row.record["chapter"] == row.chapter
        assert row.live is None or row.live.chapter.removesuffix(".ipynb") == row.chapter
    bigram = {row.model: row for row in results.book_table("names")}["bigram, add-one"]
    assert bigram.record["test"]["nats_per_character"] == pytest.approx(bigram.live.value,
                                                                         abs=5e-4)


def test_a_paused_step_counts_as_a_usual_one():
    state = {}
    assert record._active(0.5, state) == 0.5
    for _ in range(50):
        record._active(0.5, state)
    assert record._active(3600.0, state) == pytest.approx(0.5)  # a SIGSTOP of an hour
    assert record._active(2.0, state) == 2.0  # a slow step is still counted as it was


def test_a_live_model_beside_its_record_on_the_same_rows():
    live = ar.NADE(784, hidden=8)
    rows = ar.binarized_mnist("test")[:50]
    history = ar.train.History(examples_seen=1000, seconds=3.0)
    model, table, live_nll, record_nll = record.beside("nade", live, rows, history)
    assert isinstance(model, ar.NADE) and model.hidden == 500
    assert live_nll == pytest.approx(ar.evaluate(live, rows).nats, abs=1e-4)
    assert record_nll == pytest.approx(ar.evaluate(model, rows).nats, abs=1e-4)
    text = repr(table)
    assert f"{live_nll:.2f}" in text and f"{record_nll:.2f}" in text
    assert "1,000" in text and "3 s" in text and "| test NLL, nats |" in table._repr_markdown_()
