"""The Python bindings against independent references: numpy's own
arithmetic for single steps, the vendored data, hand-made corruptions."""

import numpy as np
import pytest

import microprop
from microprop import (
    BlobError,
    CrcError,
    HyperparameterError,
    InputError,
    ModelError,
    Network,
    SafetensorsError,
    SpecError,
    UnsupportedError,
)

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0])


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32).copy()


def test_xor_converges():
    net = Network("dense(2,4) tanh dense(4,2)", batch=4, lr=0.5, seed=1)
    for _ in range(500):
        loss = net.train_step(XOR_X, XOR_Y)
    ev = net.evaluate(XOR_X, XOR_Y)
    assert loss < 0.05
    assert ev.accuracy == 1.0 and ev.samples == 4
    assert net.predict(XOR_X).argmax(axis=1).tolist() == XOR_Y.tolist()


def test_one_sgd_step_matches_numpy_mse():
    # dense(3,2) under MSE, as PyTorch defines it: L = mean((p - t)^2) over
    # all elements, dL/dp = 2 (p - t) / (rows * cols).
    net = Network("dense(3,2)", batch=2, loss="mse", optimizer="sgd", lr=0.1, seed=7)
    p = net.parameters().astype(np.float64)
    w, b = p[:6].reshape(2, 3), p[6:]
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    t = np.array([[1.0, 0.0], [-0.5, 2.0]])
    pred = x @ w.T + b
    loss = np.mean((pred - t) ** 2)
    g = 2 * (pred - t) / pred.size
    w_new = w - 0.1 * (g.T @ x)
    b_new = b - 0.1 * g.sum(axis=0)
    got = net.train_step(x, t)
    assert got == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(net.parameters(), np.concatenate([w_new.ravel(), b_new]), rtol=0, atol=1e-6)


def test_one_sgd_step_matches_numpy_cross_entropy():
    net = Network("dense(4,3) relu dense(3,3)", batch=3, lr=0.2, seed=3)
    p = net.parameters().astype(np.float64)
    w1, b1 = p[:12].reshape(3, 4), p[12:15]
    w2, b2 = p[15:24].reshape(3, 3), p[24:27]
    x = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -0.5, 0.25], [0.0, 0.3, 0.7, -1.2]])
    y = np.array([2, 0, 1])
    z1 = x @ w1.T + b1
    h = np.maximum(z1, 0)
    z2 = h @ w2.T + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    s = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(s[np.arange(3), y]))
    d2 = s.copy()
    d2[np.arange(3), y] -= 1
    d2 /= 3
    dh = d2 @ w2 * (z1 > 0)
    expect = np.concatenate(
        [
            (w1 - 0.2 * dh.T @ x).ravel(),
            b1 - 0.2 * dh.sum(0),
            (w2 - 0.2 * d2.T @ h).ravel(),
            b2 - 0.2 * d2.sum(0),
        ]
    )
    assert net.train_step(x, y) == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(net.parameters(), expect, rtol=0, atol=1e-6)


def test_same_seed_same_bits_and_reset():
    a = Network("dense(64,16) relu dense(16,10)", seed=5)
    b = Network("dense(64,16) relu dense(16,10)", seed=5)
    c = Network("dense(64,16) relu dense(16,10)", seed=6)
    assert (bits(a.parameters()) == bits(b.parameters())).all()
    assert not (bits(a.parameters()) == bits(c.parameters())).all()
    c.reset(5)
    assert (bits(a.parameters()) == bits(c.parameters())).all()


def test_digits_data_and_training():
    x, y, held = microprop.digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and set(y.tolist()) == set(range(10))
    assert held.sum() == 359 and held[4] and not held[3]
    # pixel / 16 exactly: 0..=16 sixteenths
    assert np.array_equal(x * 16, np.round(x * 16)) and x.max() == 1.0
    net = Network("dense(64,32) relu dense(32,10)", batch=32, optimizer="momentum", lr=0.05, seed=1)
    xt, yt = x[~held], y[~held]
    rng = np.random.default_rng(0)
    for _ in range(10):
        order = rng.permutation(len(xt))
        for i in range(0, len(order), 32):
            net.train_step(xt[order[i : i + 32]], yt[order[i : i + 32]])
    acc = net.evaluate(x[held], y[held]).accuracy
    assert acc >= 0.95, acc


def test_partial_update_leaves_frozen_layers():
    net = Network("dense(4,8) relu dense(8,3)", batch=4, lr=0.3, train=["frozen", "full", "full"], seed=2)
    assert net.param_count == 4 * 8 + 8 + 8 * 3 + 3
    assert net.trained_count == 8 * 3 + 3
    before = net.parameters()
    x = np.random.default_rng(1).normal(size=(4, 4)).astype(np.float32)
    for _ in range(20):
        net.train_step(x, [0, 1, 2, 1])
    after = net.parameters()
    assert (bits(before[:40]) == bits(after[:40])).all()
    assert not np.array_equal(before[40:], after[40:])
    bias_only = Network("dense(4,8) relu dense(8,3)", batch=4, lr=0.3, train=["bias", "bias", "bias"], seed=2)
    bias_only.train_step(x, [0, 1, 2, 1])
    p = bias_only.parameters()
    assert (bits(p[:32]) == bits(before[:32])).all() and (bits(p[40:64]) == bits(before[40:64])).all()
    assert not np.array_equal(p[32:40], before[32:40])


def test_anchor_zero_is_identity_and_strong_anchor_holds():
    spec = "dense(4,8) relu dense(8,3)"
    x = np.random.default_rng(2).normal(size=(4, 4)).astype(np.float32)
    y = [0, 1, 2, 1]
    plain = Network(spec, batch=4, lr=0.1, seed=4)
    anchored = Network(spec, batch=4, lr=0.1, seed=4)
    anchored.set_anchor(anchored.to_blob(), 0.0)
    for _ in range(10):
        plain.train_step(x, y)
        anchored.train_step(x, y)
    assert (bits(plain.parameters()) == bits(anchored.parameters())).all()
    # A strong pull keeps the weights near the anchor; without it they move.
    free = Network(spec, batch=4, lr=0.1, seed=4)
    held = Network(spec, batch=4, lr=0.1, seed=4)
    w0 = held.parameters()
    held.set_anchor(held.to_blob(), 2.0)
    for _ in range(50):
        free.train_step(x, y)
        held.train_step(x, y)
    moved_free = np.abs(free.parameters() - w0)[:32].max()
    moved_held = np.abs(held.parameters() - w0)[:32].max()
    assert moved_held < moved_free / 3
    held.clear_anchor()
    with pytest.raises(BlobError):
        held.set_anchor(b"not a blob", 0.1)


def test_blob_round_trip_and_crc():
    spec = "dense(64,16) relu dense(16,10)"
    a = Network(spec, seed=1)
    blob = a.to_blob()
    assert len(blob) == 20 + 4 * a.param_count
    microprop.check_blob(spec, blob)
    b = Network(spec, seed=2)
    b.load_blob(blob)
    assert (bits(a.parameters()) == bits(b.parameters())).all()
    # Every corrupted payload byte is refused, with the model unchanged.
    c = Network(spec, seed=3)
    before = bits(c.parameters())
    for i in (40, len(blob) // 2, len(blob) - 5):
        bad = bytearray(blob)
        bad[i] ^= 0x10
        with pytest.raises(CrcError):
            c.load_blob(bytes(bad))
        with pytest.raises(CrcError):
            microprop.check_blob(spec, bytes(bad))
        assert (bits(c.parameters()) == before).all()
    with pytest.raises(BlobError) as e:
        c.load_blob(blob[:-10])
    assert not isinstance(e.value, CrcError)
    with pytest.raises(BlobError):
        Network("dense(64,32) relu dense(32,10)").load_blob(blob)


def test_q10():
    spec = "dense(2,4) tanh dense(4,2)"
    q = Network(spec, batch=4, lr=0.5, seed=1, dtype="q10")
    assert q.dtype == "q10"
    p = q.parameters()
    assert np.array_equal(p * 1024, np.round(p * 1024))
    q.set_parameters(np.full(q.param_count, 0.1))
    assert np.allclose(q.parameters(), round(0.1 * 1024) / 1024)
    q.reset(1)
    for _ in range(500):
        q.train_step(XOR_X, XOR_Y)
    assert q.evaluate(XOR_X, XOR_Y).accuracy == 1.0
    # A fixed-point blob is half the size and loads into f32 exactly.
    blob = q.to_blob()
    f = Network(spec, batch=4, seed=9)
    assert len(blob) < len(f.to_blob())
    f.load_blob(blob)
    assert np.array_equal(f.parameters(), q.parameters())
    with pytest.raises(UnsupportedError):
        Network(spec, optimizer="adam", dtype="q10")
    before = q.parameters().view(np.int32).copy()
    with pytest.raises(InputError):
        q.train_step(XOR_X, [0, 1, 2, 0])
    with pytest.raises(InputError):
        q.train_step(XOR_X[:3], XOR_Y)
    assert np.array_equal(q.parameters().view(np.int32), before)


def test_safetensors(tmp_path):
    spec = "dense(64,16) relu dense(16,10)"
    a = Network(spec, seed=1)
    path = tmp_path / "m.safetensors"
    a.save_safetensors(path)
    assert microprop.safetensors_spec(path) == spec
    sd = a.state_dict()
    assert [(k, v.shape) for k, v in sd.items()] == [
        ("0.weight", (16, 64)),
        ("0.bias", (16,)),
        ("2.weight", (10, 16)),
        ("2.bias", (10,)),
    ]
    b = Network(spec, seed=2)
    b.load_safetensors(path)
    assert (bits(a.parameters()) == bits(b.parameters())).all()
    other = Network("dense(64,32) relu dense(32,10)")
    with pytest.raises(SafetensorsError):
        other.load_safetensors(path)
    (tmp_path / "junk").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    with pytest.raises(SafetensorsError):
        b.load_safetensors(tmp_path / "junk")
    with pytest.raises(FileNotFoundError):
        b.load_safetensors(tmp_path / "missing")


def test_rejected_calls_change_nothing():
    net = Network("dense(2,4) tanh dense(4,2)", batch=4, optimizer="momentum", lr=0.1, seed=1)
    net.train_step(XOR_X, XOR_Y)
    before = bits(net.parameters())
    bad_calls = [
        (lambda: net.train_step(XOR_X, [0, 1, 2, 0]), "out of range"),
        (lambda: net.train_step(XOR_X, [0.0, 1.0, 1.0, 0.0]), "integers"),
        (lambda: net.train_step(XOR_X, [0, -1, 1, 0]), "negative"),
        (lambda: net.train_step(XOR_X, [[0, 1], [1, 0]]), "1-D"),
        (lambda: net.train_step(XOR_X, ["a", "b", "c", "d"]), "integers"),
        (lambda: net.train_step(XOR_X[:, :1], XOR_Y), "rows of 2"),
        (lambda: net.train_step(np.vstack([XOR_X, XOR_X]), np.concatenate([XOR_Y, XOR_Y])), "capacity"),
        (lambda: net.train_step(np.where(XOR_X == 1, np.nan, 0), XOR_Y), "non-finite"),
        (lambda: net.train_step(XOR_X, XOR_Y[:3]), "expected 4"),
        (lambda: net.train_step(XOR_X[:0], XOR_Y[:0]), "empty"),
        (lambda: net.evaluate(XOR_X, [0, 1, 1, 10]), "out of range"),
        (lambda: net.predict([[1.0, np.inf]]), "non-finite"),
        (lambda: net.set_parameters(np.zeros(3)), "expected 22"),
        (lambda: net.set_parameters(np.zeros((2, 11))), "1-D"),
        (lambda: net.set_parameters(np.full(22, np.inf)), "non-finite"),
        (lambda: net.set_parameters("abc"), "float32"),
    ]
    for call, words in bad_calls:
        with pytest.raises(InputError) as e:
            call()
        assert isinstance(e.value, ValueError)
        assert words in str(e.value), (words, str(e.value))
        assert (bits(net.parameters()) == before).all(), words


def test_rejected_calls_change_nothing_in_q10():
    # Fixed point would saturate NaN and infinity into ordinary values: they
    # are refused before conversion, as in f32.
    net = Network("dense(2,4) tanh dense(4,2)", batch=4, lr=0.1, seed=1, dtype="q10")
    net.train_step(XOR_X, XOR_Y)
    before = net.parameters().view(np.int32).copy()
    for call in (
        lambda: net.train_step([[np.nan, 1.0]], [0]),
        lambda: net.train_step([[np.inf, 1.0]], [0]),
        lambda: net.set_parameters(np.full(22, np.nan)),
        lambda: net.evaluate([[1.0, -np.inf]], [1]),
        lambda: net.train_step(XOR_X, [0, 1, 2, 0]),
    ):
        with pytest.raises(InputError):
            call()
        assert np.array_equal(net.parameters().view(np.int32), before)


def test_bad_construction():
    with pytest.raises(SpecError, match="expects 5 inputs"):
        Network("dense(2,4) dense(5,2)")
    with pytest.raises(SpecError):
        Network("conv(2")
    with pytest.raises(SpecError):
        Network("dense(2,2)", train=["full", "full"])
    with pytest.raises(SpecError):
        Network("dense(2,2)", train=["sometimes"])
    with pytest.raises(HyperparameterError):
        Network("dense(2,2)", lr=-1.0)
    with pytest.raises(HyperparameterError):
        Network("dense(2,2)", optimizer="momentum", momentum=1.5)
    with pytest.raises(HyperparameterError):
        Network("dense(2,2)", optimizer="rmsprop")
    with pytest.raises(ModelError):
        Network("dense(2,1)", loss="cross_entropy")
    with pytest.raises(ModelError):
        Network("dense(2,2)", dtype="float16")
    with pytest.raises(UnsupportedError):
        Network("dense(2,2)", optimizer="fused_sgd").set_anchor(Network("dense(2,2)").to_blob(), 0.1)


def test_type_stub_matches_the_module():
    import ast
    import pathlib

    stub = pathlib.Path(microprop.__file__).parent / "_native.pyi"
    tree = ast.parse(stub.read_text())

    def names(body):
        out = set()
        for n in body:
            if isinstance(n, ast.FunctionDef):
                out.add(n.name)
            elif isinstance(n, ast.AnnAssign):
                out.add(n.target.id)
        return out

    classes = {n.name: names(n.body) for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    native = microprop._native
    assert functions == {n for n in dir(native) if not n.startswith("_") and n not in classes}
    for cls, members in classes.items():
        runtime = {n for n in dir(getattr(native, cls)) if not n.startswith("_")}
        assert members - {"__init__"} == runtime, cls
