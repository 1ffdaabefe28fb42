"""FieldSet behaviour, method choice, and thread-count determinism."""

import numba
import numpy as np
import pytest

from sim.diffusion import Dirichlet, FieldSet, FieldSpec, _solver, advance

SPECS = {
    "tnf": FieldSpec(D=30.0, decay=6e-4),
    "il1b": FieldSpec(D=45.0, decay=3e-4),
    "il6": FieldSpec(D=25.0, decay=1e-3),
    "slow": FieldSpec(D=0.5, decay=0.0),  # explicit is cheaper for this one
}


def test_views_sources_and_names():
    fs = FieldSet((6, 4), 100.0, SPECS)
    assert fs.names == tuple(SPECS)
    assert fs.data.shape == (4, 6, 4) and fs.sources.shape == (4, 6, 4)
    fs["il6"][2, 3] = 5.0
    assert fs.data[2, 2, 3] == 5.0
    fs.source("tnf")[1, 1] = 2.0
    assert fs.sources[0, 1, 1] == 2.0
    fs.clear_sources()
    assert not fs.sources.any()
    with pytest.raises(KeyError):
        fs["nope"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["auto", "implicit", "explicit"])
def test_fieldset_equals_field_by_field_advance(dtype, method):
    rng = np.random.default_rng(1)
    bc = Dirichlet(0.0, faces=("x-",))
    fs = FieldSet((15, 9), 100.0, SPECS, dtype=dtype, boundary=bc)
    fs.data[:] = rng.random(fs.data.shape)
    fs.sources[:] = rng.random(fs.sources.shape) * 1e-3
    single = {n: fs[n].copy() for n in fs.names}
    methods = fs.methods(3600.0, method)
    fs.advance(3600.0, method=method)
    for n in fs.names:
        advance(
            single[n],
            D=SPECS[n].D,
            decay=SPECS[n].decay,
            dx=100.0,
            dt=3600.0,
            source=fs.source(n),
            boundary=bc,
            method=methods[n],
        )
        np.testing.assert_array_equal(fs[n], single[n])


def test_auto_picks_per_field():
    fs = FieldSet((60, 40), 100.0, SPECS)
    m = fs.methods(3600.0)
    assert m["slow"] == "explicit" and m["tnf"] == "implicit"


def test_auto_rule():
    # explicit only when it needs at most AUTO_COST_RATIO sub-steps
    assert _solver.choose_method("auto", 1, False)
    assert not _solver.choose_method("auto", int(_solver.AUTO_COST_RATIO) + 1, False)


def test_model_sized_fieldset_conserves_with_no_decay():
    specs = {f"c{i}": FieldSpec(D=5.0 + 12 * i, decay=0.0) for i in range(8)}
    fs = FieldSet((60, 40), 150.0, specs)
    fs.sources[:, 30, 20] = 1e-3
    for _ in range(10):
        fs.advance(3600.0)
    np.testing.assert_allclose(fs.data.sum(axis=(1, 2)), 10 * 3600.0 * 1e-3, rtol=1e-12)


@pytest.mark.parametrize("shape", [(300, 260), (40, 36, 50)])
@pytest.mark.parametrize("method", ["explicit", "implicit"])
def test_threaded_path_bit_identical_to_serial(shape, method, monkeypatch):
    rng = np.random.default_rng(9)
    u0 = rng.random(shape)
    S = rng.random(shape)
    kw = dict(
        D=20.0,
        decay=1e-3,
        dx=5.0,
        source=S,
        boundary=Dirichlet(0.3, faces=("x+", "y-")),
        method=method,
        dt=2.0 if method == "explicit" else 30.0,
    )
    serial = u0.copy()
    monkeypatch.setattr(_solver, "PARALLEL_MIN_CELLS", 10**12)
    advance(serial, **kw)
    monkeypatch.setattr(_solver, "PARALLEL_MIN_CELLS", 0)
    n0 = numba.get_num_threads()
    try:
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            threaded = u0.copy()
            advance(threaded, **kw)
            assert threaded.tobytes() == serial.tobytes(), n
    finally:
        numba.set_num_threads(n0)
