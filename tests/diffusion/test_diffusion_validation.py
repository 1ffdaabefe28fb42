"""Every bad argument raises ValueError naming it, before touching u."""

import numpy as np
import pytest

from sim.diffusion import Dirichlet, FieldSet, FieldSpec, advance

GOOD = dict(D=10.0, decay=1e-3, dx=10.0, dt=60.0)


def _u():
    return np.random.default_rng(0).random((6, 7))


BAD = [
    (dict(D=-1.0), "D"),
    (dict(D=np.nan), "D"),
    (dict(D=np.inf), "D"),
    (dict(D="fast"), "D"),
    (dict(decay=-1e-3), "decay"),
    (dict(decay=np.inf), "decay"),
    (dict(dx=0.0), "dx"),
    (dict(dx=-5.0), "dx"),
    (dict(dx=np.nan), "dx"),
    (dict(dt=0.0), "dt"),
    (dict(dt=-1.0), "dt"),
    (dict(dt=np.inf), "dt"),
    (dict(dt=np.nan), "dt"),
    (dict(source=np.ones((6, 6))), "source"),
    (dict(source=np.ones((6, 7), dtype=np.float32)), "source"),
    (dict(source=[1.0]), "source"),
    (dict(boundary="periodic"), "boundary"),
    (dict(boundary=3), "boundary"),
    (dict(boundary=Dirichlet(0.0, faces=("z-",))), "boundary"),
    (dict(boundary=Dirichlet(0.0, mask=np.zeros((6, 6), bool))), "mask"),
    (dict(method="rk4"), "method"),
]


@pytest.mark.parametrize("bad, name", BAD)
def test_bad_argument_named_and_u_untouched(bad, name):
    u = _u()
    before = u.copy()
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        advance(u, **{**GOOD, **bad})
    np.testing.assert_array_equal(u, before)


@pytest.mark.parametrize(
    "u",
    [
        np.zeros(5),
        np.zeros((2, 2, 2, 2)),
        np.zeros((4, 4), dtype=np.int64),
        np.zeros((4, 4), dtype=np.float16),
        np.zeros((4, 6))[:, ::2],
        [[0.0, 1.0]],
    ],
    ids=["1d", "4d", "int", "float16", "strided", "list"],
)
def test_bad_field(u):
    with pytest.raises(ValueError, match=r"\bu\b"):
        advance(u, **GOOD)


def test_bad_dirichlet_arguments():
    with pytest.raises(ValueError, match="face"):
        Dirichlet(0.0, faces=("w+",))
    with pytest.raises(ValueError, match="value"):
        Dirichlet(np.nan)
    with pytest.raises(ValueError, match="mask"):
        Dirichlet(0.0, mask=np.zeros((3, 3)))


def test_fieldset_validation():
    with pytest.raises(ValueError, match="D"):
        FieldSpec(-1.0, 0.0)
    with pytest.raises(ValueError, match="decay"):
        FieldSpec(1.0, np.nan)
    with pytest.raises(ValueError, match="shape"):
        FieldSet((5,), 10.0, {"a": FieldSpec(1.0)})
    with pytest.raises(ValueError, match="dx"):
        FieldSet((5, 5), 0.0, {"a": FieldSpec(1.0)})
    with pytest.raises(ValueError, match="dtype"):
        FieldSet((5, 5), 1.0, {"a": FieldSpec(1.0)}, dtype=np.int32)
    with pytest.raises(ValueError, match="specs"):
        FieldSet((5, 5), 1.0, {"a": (1.0, 0.0)})
    with pytest.raises(ValueError, match="mask"):
        FieldSet((5, 5), 1.0, {"a": FieldSpec(1.0)}, boundary=Dirichlet(mask=np.ones((4, 4), bool)))
    fs = FieldSet((5, 5), 1.0, {"a": FieldSpec(1.0)})
    fs["a"][:] = 1.0
    for bad_dt in (0.0, -1.0, np.nan, np.inf, "1"):
        with pytest.raises(ValueError, match="dt"):
            fs.advance(bad_dt)
    with pytest.raises(ValueError, match="method"):
        fs.advance(1.0, method="magic")
    assert (fs["a"] == 1.0).all()
