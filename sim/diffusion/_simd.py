"""Explicit-SIMD building blocks for the contiguous-axis Thomas sweep.

Numba disables LLVM's SLP vectoriser, so register transposes and short
fixed-width vector recurrences cannot be written as plain loops (they come
out scalar).  The two kernels here are numba *intrinsics* that emit LLVM
vector IR directly: a block of ``NT`` stacked ``V x V`` tiles (``V`` lanes of
256 bits: 4 float64 or 8 float32) is loaded with whole-row vector loads,
transposed in registers with ``shufflevector`` (lowered to unpack / permute
instructions), and the recurrence then runs with each vector holding one
column of ``V`` independent lines, ``NT`` vectors in flight to hide the
sub + FMA latency.

The arithmetic is exactly the scalar recurrence of ``_implicit.py``, lane by
lane: ``fsub`` then one ``llvm.fma`` (no fast-math flags, so no
reassociation), identical to what the scalar code computes with FMA
contraction -- hence every exactness property of the normalised Thomas form
carries over, and a line gives the same bits whatever path solves it.

Layout contract (``u`` a 2-D C-contiguous float array of lines):

* :func:`fwd_chunk` reads the normal layout of columns ``j0 .. j0+V`` of lines
  ``r0 .. r0+NT*V`` and writes the forward-eliminated values back *in the
  transposed tile layout*: value of line ``r0 + t*V + l`` at column ``j0 + c``
  is stored at ``u[r0 + t*V + c, j0 + l]``.
* :func:`bwd_chunk` reads that transposed layout, back-substitutes and writes
  the normal layout again.

Running values between chunks live in a small array (``NT*V`` entries).
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Tiles per block: independent vector chains in flight (8 x 4 lanes = 32
#: float64 lines).  8 measured best on 56-long lines.
NT = 8
NT_NARROW = 2
#: Vector width in bits.
VBITS = 256

_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


def lanes(dtype):
    """Vector lanes for a numba float type."""
    return VBITS // dtype.bitwidth


def _const(v):
    return ir.Constant(_I64, v)


def _vfma(builder, a, b, c):
    # llvm.fma on vectors (IRBuilder.fma accepts scalars only)
    t = a.type
    name = f"llvm.fma.v{t.count}f{t.element.intrinsic_name[1:]}"  # e.g. llvm.fma.v4f64
    fnty = ir.FunctionType(t, [t, t, t])
    mod = builder.module
    f = mod.globals.get(name) or ir.Function(mod, fnty, name=name)
    return builder.call(f, [a, b, c])


def _transpose(builder, rows, V):
    # Recursive block-swap transpose: at stage h, rows i and i+h (bit h of i
    # clear) exchange their off-diagonal h x h blocks.
    h = V // 2
    while h >= 1:
        ma = ir.Constant(ir.VectorType(_I32, V), [j if not (j & h) else V + j - h for j in range(V)])
        mb = ir.Constant(ir.VectorType(_I32, V), [j + h if not (j & h) else V + j for j in range(V)])
        new = list(rows)
        for i in range(V):
            if i & h:
                continue
            a, b = rows[i], rows[i + h]
            new[i] = builder.shuffle_vector(a, b, ma)
            new[i + h] = builder.shuffle_vector(a, b, mb)
        rows = new
        h //= 2
    return rows


class _Ctx:
    """Pointers into the arrays of one intrinsic call."""

    def __init__(self, context, builder, sig, args):
        uty = sig.args[0]
        self.b = builder
        self.V = lanes(uty.dtype)
        self.ety = context.get_value_type(uty.dtype)
        self.vty = ir.VectorType(self.ety, self.V)
        self.align = uty.dtype.bitwidth // 8
        u = context.make_array(uty)(context, builder, args[0])
        self.udata = u.data
        self.ustride = builder.sdiv(builder.extract_value(u.strides, 0), _const(self.align))
        self.coef = context.make_array(sig.args[3])(context, builder, args[3]).data
        self.coef_align = sig.args[3].dtype.bitwidth // 8
        self.coef_cast = sig.args[3].dtype != uty.dtype
        self.run = context.make_array(sig.args[4])(context, builder, args[4]).data
        self.r0, self.j0 = args[1], args[2]

    def _vptr(self, base, off):
        p = self.b.gep(base, [off])
        return self.b.bitcast(p, self.vty.as_pointer())

    def row_ptr(self, row):
        # &u[r0 + row, j0]
        b = self.b
        r = b.add(self.r0, _const(row))
        return self._vptr(self.udata, b.add(b.mul(r, self.ustride), self.j0))

    def load(self, ptr):
        return self.b.load(ptr, align=self.align)

    def store(self, val, ptr):
        self.b.store(val, ptr, align=self.align)

    def splat_coef(self, c):
        b = self.b
        s = b.load(b.gep(self.coef, [b.add(self.j0, _const(c))]), align=self.coef_align)
        if self.coef_cast:  # only for typing completeness: callers pass matching dtypes
            s = b.fptrunc(s, self.ety) if self.align == 4 else b.fpext(s, self.ety)
        v = b.insert_element(ir.Constant(self.vty, ir.Undefined), s, ir.Constant(_I32, 0))
        return b.shuffle_vector(
            v, ir.Constant(self.vty, ir.Undefined), ir.Constant(ir.VectorType(_I32, self.V), [0] * self.V)
        )

    def run_ptr(self, t):
        return self._vptr(self.run, _const(t * self.V))


def _typecheck(u, coef, run):
    floats = (types.float32, types.float64)
    ok = (
        isinstance(u, types.Array)
        and u.ndim == 2
        and u.layout == "C"
        and u.dtype in floats
        and isinstance(coef, types.Array)
        and coef.dtype in floats
        and coef.ndim == 1
        and isinstance(run, types.Array)
        and run.dtype == u.dtype
        and run.ndim == 1
    )
    return ok


def _splat(builder, vty, s):
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), s, ir.Constant(_I32, 0))
    return builder.shuffle_vector(
        v, ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(_I32, vty.count), [0] * vty.count)
    )


def _react(builder, c, cols, one_k, inv, lo, hi):
    """Markstein-corrected ``cols / one_k`` (see ``_implicit._react_rows_fast``);
    the whole tile is divided instead if any |a| is outside [lo, hi] and
    non-zero (NaN and inf included)."""
    vty = c.vty
    b_, y_, lo_, hi_ = (_splat(builder, vty, v) for v in (one_k, inv, lo, hi))
    zero = ir.Constant(vty, 0.0)
    fabs = builder.module.globals.get(f"llvm.fabs.v{c.V}f{c.ety.intrinsic_name[1:]}")
    if fabs is None:
        fabs = ir.Function(
            builder.module, ir.FunctionType(vty, [vty]), name=f"llvm.fabs.v{c.V}f{c.ety.intrinsic_name[1:]}"
        )
    bad = None
    fast = []
    for a in cols:
        q = builder.fmul(a, y_)
        e = _vfma(builder, builder.fneg(q), b_, a)
        q = _vfma(builder, e, y_, q)
        e = _vfma(builder, builder.fneg(q), b_, a)
        fast.append(_vfma(builder, e, y_, q))
        x = builder.call(fabs, [a])
        ok = builder.or_(
            builder.and_(builder.fcmp_ordered(">=", x, lo_), builder.fcmp_ordered("<=", x, hi_)),
            builder.fcmp_ordered("==", a, zero),
        )
        nb = builder.not_(ok)
        bad = nb if bad is None else builder.or_(bad, nb)
    anybad = builder.icmp_unsigned("!=", builder.bitcast(bad, ir.IntType(c.V)), ir.Constant(ir.IntType(c.V), 0))
    entry = builder.block
    with builder.if_then(anybad, likely=False):
        slow = [builder.fdiv(a, b_) for a in cols]
        slow_block = builder.block
    out = []
    for qf, qs in zip(fast, slow):
        phi = builder.phi(vty)
        phi.add_incoming(qf, entry)
        phi.add_incoming(qs, slow_block)
        out.append(phi)
    return out


def _make_kernels(nt):
    """Forward / backward chunk intrinsics for blocks of ``nt`` tiles."""

    def fwd_codegen(react):
        def codegen(context, builder, signature, args):
            c = _Ctx(context, builder, signature, args)
            V = c.V
            al = [c.splat_coef(k) for k in range(V)]
            if react:
                rargs = [
                    context.cast(builder, v, t, signature.args[0].dtype) for v, t in zip(args[5:], signature.args[5:])
                ]
            for t in range(nt):
                ptrs = [c.row_ptr(t * V + k) for k in range(V)]
                cols = _transpose(builder, [c.load(p) for p in ptrs], V)
                if react:
                    cols = _react(builder, c, cols, *rargs)
                y = c.load(c.run_ptr(t))
                out = []
                for k in range(V):
                    y = _vfma(builder, al[k], builder.fsub(cols[k], y), y)
                    out.append(y)
                for k in range(V):
                    c.store(out[k], ptrs[k])
                c.store(y, c.run_ptr(t))
            return context.get_dummy_value()

        return codegen

    @intrinsic
    def fwd_chunk(typingctx, u, r0, j0, alpha, yp):
        """Forward elimination over columns ``j0 .. j0+V`` of lines ``r0 ..
        r0+nt*V``; ``yp[t*V + l]`` holds the running value of line ``r0 + t*V +
        l`` (updated); the results are stored transposed in place."""
        if not _typecheck(u, alpha, yp):
            return None
        return types.void(u, types.intp, types.intp, alpha, yp), fwd_codegen(False)

    @intrinsic
    def fwd_chunk_react(typingctx, u, r0, j0, alpha, yp, one_k, inv, lo, hi):
        """:func:`fwd_chunk` with the reaction ``u / one_k`` applied to each
        tile first (correctly rounded, without a division)."""
        if not _typecheck(u, alpha, yp):
            return None
        sig = types.void(u, types.intp, types.intp, alpha, yp, one_k, inv, lo, hi)
        return sig, fwd_codegen(True)

    @intrinsic
    def bwd_chunk(typingctx, u, r0, j0, beta, xp):
        """Back substitution over columns ``j0+V-1 .. j0`` (transposed layout
        in, normal layout out); ``xp`` holds the values of column ``j0 + V``."""
        if not _typecheck(u, beta, xp):
            return None
        sig = types.void(u, types.intp, types.intp, beta, xp)

        def codegen(context, builder, signature, args):
            c = _Ctx(context, builder, signature, args)
            V = c.V
            be = [c.splat_coef(k) for k in range(V)]
            for t in range(nt):
                ptrs = [c.row_ptr(t * V + k) for k in range(V)]
                ys = [c.load(p) for p in ptrs]
                x = c.load(c.run_ptr(t))
                out = [None] * V
                for k in range(V - 1, -1, -1):
                    y = ys[k]
                    x = _vfma(builder, be[k], builder.fsub(x, y), y)
                    out[k] = x
                rows = _transpose(builder, out, V)
                for k in range(V):
                    c.store(rows[k], ptrs[k])
                c.store(x, c.run_ptr(t))
            return context.get_dummy_value()

        return sig, codegen

    return fwd_chunk, fwd_chunk_react, bwd_chunk


#: Wide blocks (8 tiles: 32 float64 lines) for most line lengths.
fwd_wide, fwd_wide_react, bwd_wide = _make_kernels(NT)
#: Narrow blocks (2 tiles) when the line stride is a multiple of 4 KiB: then
#: every line of a block maps to the same L1 set and more than 12 lines in
#: flight thrash it (measured 4x slower at 1024^2 with 16 lines).
fwd_narrow, fwd_narrow_react, bwd_narrow = _make_kernels(NT_NARROW)


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with a single rounding (``llvm.fma``), for float scalars
    (evaluated in the widest of the three types)."""
    floats = (types.float32, types.float64)
    if not (a in floats and b in floats and c in floats):
        return None
    rt = types.float64 if types.float64 in (a, b, c) else types.float32
    sig = rt(a, b, c)

    def codegen(context, builder, signature, args):
        vals = [context.cast(builder, v, t, rt) for v, t in zip(args, signature.args)]
        return builder.fma(*vals)

    return sig, codegen


def _make_strided(nvec):
    """Sweep along the rows of ``v`` (n, m) for the ``nvec * V`` columns from
    ``c0``: the whole forward elimination then the back substitution, with
    the running values of ``nvec`` vectors kept in registers (allocas that
    LLVM promotes) instead of being re-read from the previous row."""

    @intrinsic
    def strided(typingctx, v, c0, alpha, beta, dlo, dhi, g):
        floats = (types.float32, types.float64)
        if not (
            isinstance(v, types.Array)
            and v.ndim == 2
            and v.layout == "C"
            and v.dtype in floats
            and isinstance(alpha, types.Array)
            and alpha.dtype in floats
            and isinstance(beta, types.Array)
            and beta.dtype in floats
        ):
            return None
        sig = types.void(v, types.intp, alpha, beta, types.boolean, types.boolean, types.float64)

        def codegen(context, builder, signature, args):
            from numba.core import cgutils

            ety = context.get_value_type(signature.args[0].dtype)
            V = lanes(signature.args[0].dtype)
            vty = ir.VectorType(ety, V)
            align = signature.args[0].dtype.bitwidth // 8
            arr = context.make_array(signature.args[0])(context, builder, args[0])
            n = builder.extract_value(arr.shape, 0)
            stride = builder.sdiv(builder.extract_value(arr.strides, 0), _const(align))
            adata = context.make_array(signature.args[2])(context, builder, args[2]).data
            bdata = context.make_array(signature.args[3])(context, builder, args[3]).data
            cty = signature.args[2].dtype
            dlo_ = context.cast(builder, args[4], types.boolean, types.boolean)
            dhi_ = context.cast(builder, args[5], types.boolean, types.boolean)
            gv = _splat(builder, vty, context.cast(builder, args[6], types.float64, signature.args[0].dtype))

            def coef(data, i):
                s = builder.load(builder.gep(data, [i]))
                s = context.cast(builder, s, cty, signature.args[0].dtype)
                return _splat(builder, vty, s)

            def ptrs(i):
                base = builder.add(builder.mul(i, stride), args[1])
                return [
                    builder.bitcast(builder.gep(arr.data, [builder.add(base, _const(k * V))]), vty.as_pointer())
                    for k in range(nvec)
                ]

            run = [cgutils.alloca_once(builder, vty) for _ in range(nvec)]
            # first row: held end g + alpha0 (r - g), no-flux end unchanged
            a0 = coef(adata, _const(0))
            for k, p in enumerate(ptrs(_const(0))):
                r = builder.load(p, align=align)
                # not fused: the reference kernel computes g + a0*(r - g) with
                # two roundings here
                held = builder.fadd(gv, builder.fmul(a0, builder.fsub(r, gv)))
                y = builder.select(dlo_, held, r)
                builder.store(y, p, align=align)
                builder.store(y, run[k])
            one = _const(1)
            with cgutils.for_range(builder, builder.sub(n, one)) as loop:
                i = builder.add(loop.index, one)
                a = coef(adata, i)
                for k, p in enumerate(ptrs(i)):
                    y = builder.load(run[k])
                    y = _vfma(builder, a, builder.fsub(builder.load(p, align=align), y), y)
                    builder.store(y, p, align=align)
                    builder.store(y, run[k])
            # last row: held end y + beta (g - y), no-flux end unchanged
            last = builder.sub(n, one)
            bl = coef(bdata, last)
            for k, p in enumerate(ptrs(last)):
                y = builder.load(run[k])
                x = builder.select(dhi_, _vfma(builder, bl, builder.fsub(gv, y), y), y)
                builder.store(x, p, align=align)
                builder.store(x, run[k])
            with cgutils.for_range(builder, builder.sub(n, one)) as loop:
                i = builder.sub(builder.sub(n, _const(2)), loop.index)
                b = coef(bdata, i)
                for k, p in enumerate(ptrs(i)):
                    x = builder.load(run[k])
                    y = builder.load(p, align=align)
                    x = _vfma(builder, b, builder.fsub(x, y), y)
                    builder.store(x, p, align=align)
                    builder.store(x, run[k])
            return context.get_dummy_value()

        return sig, codegen

    return strided


#: Strided-axis kernels for 1..8 vectors of columns (8 x 4 = 32 float64).
(strided1, strided2, strided3, strided4, strided5, strided6, strided7, strided8) = (
    _make_strided(k) for k in range(1, 9)
)
