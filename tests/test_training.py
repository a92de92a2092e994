"""The shared training loop, evaluation and checkpoints."""

from __future__ import annotations

import math
import pickle
import time
import zipfile

import numpy as np
import pytest
import torch

import autoregressive as ar
from autoregressive.train import _checksum
from helpers import randomize


def toy_data(rows: int, seed: int) -> torch.Tensor:
    """Binary rows where x_2 copies x_1 and x_3 = 1 − x_1: learnable only with dependencies."""
    first = torch.bernoulli(torch.full((rows, 1), 0.3), generator=torch.Generator().manual_seed(seed))
    noise = torch.bernoulli(torch.full((rows, 3), 0.5), generator=torch.Generator().manual_seed(seed + 1))
    return torch.cat([first, first, 1 - first, noise], dim=1)


def test_fit_learns_dependencies_and_reports_them():
    train, valid = toy_data(2000, 0), toy_data(500, 10)
    model = ar.FVSBN(6)
    before = ar.evaluate(model, valid).nats
    history = ar.fit(model, train, valid, epochs=40, lr=0.05, batch_size=100, progress=False)
    after = ar.evaluate(model, valid)
    # Entropy: H(x_1) + 3 fair coins = 0.611 + 3 ln 2 = 2.69 nats; independence costs 2 more.
    entropy = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7)) + 3 * math.log(2)
    assert before == pytest.approx(6 * math.log(2))
    assert after.nats < entropy + 0.05
    assert after.bits_per_dim == pytest.approx(after.nats / (6 * math.log(2)))
    assert after.examples == 500
    assert len(history.train_nll) == len(history.valid_nll) >= 1


def test_early_stopping_restores_the_best_weights():
    train, valid = toy_data(200, 1), toy_data(200, 2)
    valid[:, 1] = 1 - valid[:, 1]  # validation disagrees with training: it only gets worse
    model = ar.FVSBN(6)
    history = ar.fit(model, train, valid, epochs=30, lr=0.05, batch_size=20, patience=2,
                     progress=False)
    assert history.stopped_early
    assert len(history.valid_nll) == history.best_epoch + 3
    assert ar.evaluate(model, valid).nats == pytest.approx(history.best_valid_nll, rel=1e-6)
    assert history.best_valid_nll == min(history.valid_nll)


def test_nan_loss_stops_training_with_a_clear_error():
    model = ar.FVSBN(6)
    with torch.no_grad():
        model.linear.bias[2] = float("nan")
    with pytest.raises(FloatingPointError, match="learning rate"):
        ar.fit(model, toy_data(50, 0), toy_data(50, 1), epochs=1, progress=False)


def test_gradient_clipping_bounds_each_step():
    # Watch the gradient after clipping, before each optimizer step: its norm is at most the bound.
    model = ar.FVSBN(6)
    seen = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm):
        parameters = list(parameters)
        original(parameters, max_norm)
        seen.append(torch.cat([p.grad.flatten() for p in parameters]).norm().item())

    torch.nn.utils.clip_grad_norm_ = spy
    try:
        ar.fit(model, toy_data(100, 0), toy_data(50, 1), epochs=1, clip_grad=1e-3, progress=False)
    finally:
        torch.nn.utils.clip_grad_norm_ = original
    assert seen and max(seen) <= 1e-3 * (1 + 1e-4)


def test_dynamic_binarization_draws_fresh_batches(monkeypatch):
    grey = torch.full((400, 4), 0.3)
    model = ar.IndependentBernoulli(4)
    seen = []
    log_prob = model.log_prob
    monkeypatch.setattr(model, "log_prob", lambda x: seen.append(x.clone()) or log_prob(x))
    ar.fit(model, grey, torch.bernoulli(grey), epochs=3, lr=0.05, batch_size=400,
           dynamic_binarization=True, patience=None, progress=False)
    batches = seen[:1] + seen[2:3] + seen[4:5]  # one training batch per epoch (and validations)
    assert all(set(b.unique().tolist()) == {0.0, 1.0} for b in batches)
    assert all(abs(b.mean().item() - 0.3) < 0.04 for b in batches)
    totals = {int(b.sum()) for b in batches}  # the same draw reshuffled would keep its total
    assert len(totals) == 3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ar.fit(model, grey * 4, torch.bernoulli(grey), epochs=1, dynamic_binarization=True,
               progress=False)
    with pytest.raises(ValueError, match="dynamic_binarization=True"):
        ar.fit(model, grey, grey, epochs=1, progress=False)


def test_fit_refuses_bad_arguments():
    data = toy_data(10, 0)
    with pytest.raises(ValueError, match="epochs"):
        ar.fit(ar.FVSBN(6), data, data, epochs=0)
    with pytest.raises(ValueError, match="non-empty"):
        ar.fit(ar.FVSBN(6), data[:0], data, epochs=1)
    with pytest.raises(ValueError, match="empty"):
        ar.evaluate(ar.FVSBN(6), data[:0])
    for patience in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="patience"):
            ar.fit(ar.FVSBN(6), data, data, epochs=1, patience=patience)


def test_load_refuses_arbitrary_objects(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"model": "FVSBN", "config": {"n": 2}, "state": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        ar.load(path)


def test_load_maps_onto_the_requested_device_and_refuses_foreign_files(tmp_path):
    model = ar.FVSBN(3)
    ar.save(model, tmp_path / "m.pt")
    assert ar.load(tmp_path / "m.pt", map_location="cpu").linear.weight.device.type == "cpu"
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint"):
        ar.load(tmp_path / "other.pt")
    torch.save({"model": "Nope", "config": {}, "dtype": "float32", "state": {},
                "sha256": _checksum("Nope", {}, "float32", {})}, tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="unknown model"):
        ar.load(tmp_path / "nope.pt")


def test_quick_mode_switch(monkeypatch):
    monkeypatch.setenv("AUTOREGRESSIVE_QUICK", "0")
    assert not ar.quick_mode() and ar.budget(full=10, quick=1) == 10
    monkeypatch.setenv("AUTOREGRESSIVE_QUICK", "yes")
    assert ar.quick_mode() and ar.budget(full=10, quick=1) == 1
    monkeypatch.setenv("AUTOREGRESSIVE_QUICK", "maybe")
    with pytest.raises(ValueError, match="AUTOREGRESSIVE_QUICK"):
        ar.quick_mode()


def saved_on_gpu(src, dst):
    """Copy a checkpoint, rewriting its storage location from 'cpu' to 'cuda:0', as if it had been
    saved on a GPU (a CPU-only machine cannot make a real one)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("/data.pkl"):
                assert data.count(b"X\x03\x00\x00\x00cpu") == 1  # later storages refer back to it
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            zout.writestr(item, data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a GPU checkpoint on a CPU-only machine")
def test_a_gpu_checkpoint_opens_on_a_cpu(tmp_path):
    model = ar.FVSBN(4)
    with torch.no_grad():
        model.linear.weight.normal_()
    ar.save(model, tmp_path / "cpu.pt")
    saved_on_gpu(tmp_path / "cpu.pt", tmp_path / "gpu.pt")
    with pytest.raises(RuntimeError, match="CUDA"):  # a plain load fails here: it is a GPU file
        torch.load(tmp_path / "gpu.pt", weights_only=True)
    loaded = ar.load(tmp_path / "gpu.pt")
    assert loaded.linear.weight.device.type == "cpu"
    assert torch.equal(loaded.linear.weight, model.linear.weight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("make", [ar.FVSBN, lambda n: ar.NADE(n, hidden=5, block=4),
                                  lambda n: ar.MADE(n, (7, 7), num_masks=3, natural_order=False,
                                                    direct=True)])
def test_the_whole_protocol_runs_on_a_gpu(tmp_path, make):
    model = make(6).to("cuda")
    grey = torch.rand(200, 6)
    history = ar.fit(model, grey, torch.bernoulli(grey), epochs=2, dynamic_binarization=True,
                     progress=False)
    assert len(history.valid_nll) == 2
    on_gpu = model.sample(5, seed=1)
    assert on_gpu.device.type == "cuda"
    given = torch.bernoulli(torch.full((3, 6), 0.5))
    mask = torch.tensor([True, True, False, False, False, False])
    assert torch.equal(model.sample(x=given, mask=mask, seed=2)[:, :2].cpu(), given[:, :2])
    ar.save(model, tmp_path / "gpu.pt")
    on_cpu = ar.load(tmp_path / "gpu.pt", map_location="cpu")
    assert torch.allclose(on_cpu.log_prob(on_gpu.cpu()), model.log_prob(on_gpu).cpu(), atol=1e-5)


def test_training_speed_runs_real_steps():
    model = ar.FVSBN(6)
    before = model.linear.weight.detach().clone()
    speed = ar.training_speed(model, toy_data(60, 0), batch_size=10, steps=3)
    assert speed > 0 and not torch.equal(model.linear.weight, before)
    with pytest.raises(ValueError, match="40 rows"):
        ar.training_speed(model, toy_data(30, 0), batch_size=10, steps=3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_categorical_and_continuous_models_sample_and_train_on_a_gpu():
    for model, data in [(ar.SoftmaxNADE(6, 3, hidden=4), torch.randint(0, 3, (64, 6))),
                        (ar.RNADE(6, hidden=4), torch.randn(64, 6))]:
        model = model.to("cuda")
        ar.fit(model, data, data, epochs=1, progress=False)
        assert torch.equal(model.sample(3, seed=0).cpu(), model.sample(3, seed=0).cpu())


def test_seconds_per_call_warms_up_then_averages_the_repeats():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.01)

    seconds = ar.seconds_per_call(work, repeats=3)
    assert len(calls) == 4  # one warm-up call, then the three timed ones
    assert 0.009 < seconds < 0.5
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        ar.seconds_per_call(work, repeats=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_made_ensembles_and_autoencoders_run_on_a_gpu():
    made = ar.MADE(6, (7,), num_masks=3, natural_order=False).to("cuda")
    x = torch.bernoulli(torch.full((20, 6), 0.5))
    ar.fit(made, x, x, epochs=1, progress=False, before_step=made.next_mask,
           valid_loss=lambda b: -made.ensemble().log_prob(b))
    ensemble = made.ensemble()
    assert ensemble.log_prob(x).device.type == "cuda"
    assert torch.equal(ensemble.sample(5, seed=0).cpu(), ensemble.sample(5, seed=0).cpu())
    completed = ensemble.sample(x=x[:5], mask=torch.arange(6) < 3, seed=1)
    assert completed.device.type == "cuda" and torch.equal(completed[:, :3].cpu(), x[:5, :3])
    autoencoder = ar.Autoencoder(6, hidden=4).to("cuda")
    assert autoencoder.reconstruction_error(x).device.type == "cuda"  # a CPU batch is moved
    assert ar.dependency_matrix(made.logits, x[0].cuda()).shape == (6, 6)


@pytest.mark.parametrize("make", [lambda: ar.NADE(6, hidden=4),
                                  lambda: ar.RNADE(6, components=2, hidden=4),
                                  lambda: ar.MADE(6, (5,), num_masks=2)])
def test_weight_decay_shrinks_the_weights_alone_by_a_fixed_factor(make):
    # With a loss whose gradient is zero, what moves the parameters is the decay alone:
    # each step multiplies the weight tensors by (1 − lr · decay) and leaves the biases be.
    model = make()
    data = torch.bernoulli(torch.full((40, 6), 0.5), generator=torch.Generator().manual_seed(0))
    before = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.1 + 0.01 * torch.arange(p.numel()).reshape(p.shape))  # no zero entries
            before[name] = p.detach().clone()
    lr, decay, steps = 0.01, 0.5, 4
    ar.fit(model, data, data, epochs=1, batch_size=10, lr=lr, weight_decay=decay,
           loss=lambda batch: 0 * model.log_prob(batch), progress=False)
    factor = (1 - lr * decay) ** steps
    weights = {"W", "V", "weight"}
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[-1] in weights:
            torch.testing.assert_close(p, before[name] * factor, rtol=1e-6, atol=0)
        else:  # biases, whatever their shape (RNADE's b is (n, 3, K))
            assert torch.equal(p, before[name]), f"{name} was decayed"


def test_weight_decay_off_is_plain_adam():
    train, valid = toy_data(200, 0), toy_data(100, 1)
    model, copy = ar.FVSBN(6), ar.FVSBN(6)
    ar.fit(model, train, valid, epochs=2, lr=0.05, progress=False, patience=None)
    optimizer = torch.optim.Adam(copy.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        order = torch.randperm(len(train), generator=generator)
        for first in range(0, len(train), 100):
            loss = -copy.log_prob(train[order[first:first + 100]]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for a, b in zip(model.parameters(), copy.parameters()):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------
# Arguments and data checked before anything runs


def test_evaluate_refuses_a_batch_size_that_is_not_a_positive_int():
    model, data = ar.FVSBN(6), toy_data(30, 0)
    for batch_size in (-1, 0, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            ar.evaluate(model, data, batch_size=batch_size)
    assert ar.evaluate(model, data, batch_size=np.int64(7)).nats == pytest.approx(6 * math.log(2))


def test_evaluate_refuses_what_is_not_a_tensor_or_not_a_density_model():
    data = toy_data(10, 0)
    for bad in (data.tolist(), data.numpy()):
        with pytest.raises(TypeError, match="torch.Tensor"):
            ar.evaluate(ar.FVSBN(6), bad)
    with pytest.raises(TypeError, match="density model.*Autoencoder"):
        ar.evaluate(ar.Autoencoder(6, hidden=3), data)


@pytest.mark.parametrize("setting, bad", [
    ("clip_grad", -1.0), ("clip_grad", 0), ("clip_grad", float("nan")),
    ("clip_grad", float("inf")), ("clip_grad", True), ("clip_grad", "1"),
    ("lr", 0.0), ("lr", -1e-3), ("lr", float("nan")),
    ("weight_decay", -1e-4), ("weight_decay", float("inf")),
    ("seed", -1), ("seed", None), ("seed", 1.0),
])
def test_fit_refuses_settings_that_would_train_silently_wrong(setting, bad):
    model = ar.FVSBN(6)
    before = model.linear.weight.detach().clone()
    with pytest.raises(ValueError, match=setting):
        ar.fit(model, toy_data(20, 0), toy_data(20, 1), epochs=1, progress=False,
               **{setting: bad})
    assert torch.equal(model.linear.weight, before)


def broken(rows, value, column=2):
    data = toy_data(rows, 5)
    data[3, column] = value
    return data


@pytest.mark.parametrize("train, valid, error, words", [
    (toy_data(20, 0), broken(20, float("nan")), ValueError, "valid contains NaN"),
    (toy_data(20, 0), broken(20, 2.0), ValueError, "valid must be binary"),
    (toy_data(20, 0), toy_data(20, 1)[:, :5], ValueError, r"valid must have shape \(B, 6\)"),
    (toy_data(20, 0), toy_data(20, 1).tolist(), TypeError, "valid must be a torch.Tensor"),
    (broken(20, float("nan")), toy_data(20, 1), ValueError, "train contains NaN"),
    (toy_data(20, 0).numpy(), toy_data(20, 1), TypeError, "train must be a torch.Tensor"),
])
def test_fit_checks_both_data_sets_before_the_first_step(train, valid, error, words):
    model = ar.FVSBN(6)
    with torch.no_grad():
        model.linear.weight.normal_()
    before = model.linear.weight.detach().clone()
    with pytest.raises(error, match=words):
        ar.fit(model, train, valid, epochs=2, lr=0.1, progress=False)
    assert torch.equal(model.linear.weight, before)  # no step was taken


def test_fit_checks_real_valued_data_and_grey_data_in_full():
    rnade, real = ar.RNADE(3, components=2, hidden=4), torch.randn(20, 3)
    bad = real.clone()
    bad[7, 1] = float("inf")
    with pytest.raises(ValueError, match="valid contains NaN or infinite"):
        ar.fit(rnade, real, bad, epochs=1, progress=False)
    grey = torch.rand(20, 6)
    grey[-1, -1] = 1.5  # the last row only: every row is checked, not the first
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ar.fit(ar.FVSBN(6), grey, toy_data(20, 1), epochs=1, dynamic_binarization=True,
               progress=False)


def test_sizes_may_be_any_integer_type():
    train, valid = toy_data(40, 0), toy_data(20, 1)
    a, b = ar.FVSBN(np.int64(6)), ar.FVSBN(6)
    assert type(a.n) is int
    ar.fit(a, train, valid, epochs=np.int32(2), batch_size=np.int64(10), patience=np.int8(3),
           seed=np.uint8(4), progress=False)
    ar.fit(b, train, valid, epochs=2, batch_size=10, patience=3, seed=4, progress=False)
    assert torch.equal(a.linear.weight, b.linear.weight)


# ---------------------------------------------------------------------------------------------
# Damaged checkpoints


def rewrite(src, dst, change):
    """Copy a checkpoint (a zip archive), passing each member's name and bytes through change."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item, change(item.filename, zin.read(item.filename)))


def flip_a_bit(name, data):
    if "/data/" in name and len(data) > 8:  # a tensor's bytes
        data = bytearray(data)
        data[len(data) // 2] ^= 0x10
    return bytes(data)


def test_a_flipped_bit_in_a_tensor_is_detected(tmp_path):
    model = ar.MADE(6, (5,), num_masks=2)
    ar.save(model, tmp_path / "m.pt")
    rewrite(tmp_path / "m.pt", tmp_path / "flipped.pt", flip_a_bit)  # CRCs made to agree
    with pytest.raises(ValueError, match=r"flipped\.pt is corrupt.*sha256"):
        ar.load(tmp_path / "flipped.pt")
    raw = bytearray((tmp_path / "m.pt").read_bytes())  # and a bit flipped in the file itself
    where = raw.find(model.layers[0].weight.detach().numpy().tobytes()[:16])
    assert where > 0
    raw[where + 5] ^= 0x01
    (tmp_path / "raw.pt").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"raw\.pt is corrupt"):
        ar.load(tmp_path / "raw.pt")


def test_a_double_precision_model_comes_back_in_double_precision(tmp_path):
    model = randomize(ar.NADE(5, hidden=3).double())
    ar.save(model, tmp_path / "m.pt")
    loaded = ar.load(tmp_path / "m.pt")
    assert loaded.dtype == torch.float64
    x = toy_data(8, 0)[:, :5]
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", "truncated"])
def test_loading_what_is_not_a_checkpoint_says_so(tmp_path, content):
    if content == "truncated":
        ar.save(ar.FVSBN(5), tmp_path / "whole.pt")
        content = (tmp_path / "whole.pt").read_bytes()[:-300]
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.pt is not a checkpoint"):
        ar.load(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="missing"):
        ar.load(tmp_path / "missing.pt")


def test_the_progress_display_says_how_a_run_ended():
    from autoregressive.progress import Progress
    done = Progress(40, "FVSBN", enabled=False)
    done.epoch(20, train=99.0, valid=100.0)
    assert "20/40 epochs" in repr(done) and "░" in repr(done)  # under way: part full
    done.finish("stopped early; best epoch 17")
    text = repr(done)
    assert "20 epochs (at most 40)" in text and "stopped early" in text
    assert "░" not in text and "width: 100.0%" in done._repr_html_()  # over: full
    cut = Progress(40, "FVSBN", enabled=False)
    cut.epoch(3)
    cut.finish("interrupted", complete=False)
    assert "3/40 epochs" in repr(cut) and "width: 7.5%" in cut._repr_html_()


def test_a_failed_run_leaves_its_bar_where_it_stopped(monkeypatch):
    from autoregressive import progress
    bars = []
    real = progress.Progress

    def keep(*args, **kwargs):
        bars.append(real(*args, **kwargs))
        return bars[-1]

    monkeypatch.setattr(ar.train, "Progress", keep)
    def fail(*args):
        raise ArithmeticError("a step that fails")

    with pytest.raises(ArithmeticError):
        ar.fit(ar.FVSBN(6), toy_data(20, 0), toy_data(20, 1), epochs=3, progress=False,
               before_step=fail)
    assert bars and not bars[0].finished and "stopped by ArithmeticError" in bars[0].note
