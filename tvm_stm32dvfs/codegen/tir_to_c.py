"""Print a lowered (flattened) TIR PrimFunc as a plain C11 function.

TVM 0.27's own C codegen emits the packed FFI calling convention (``TVMFFIAny``, ``DLTensor``)
and needs TVM's headers and runtime. A microcontroller model wants neither, so this module owns
the last step: a PrimFunc after :func:`tvm_stm32dvfs.lower.lower_primfunc` (blocks removed,
buffers flattened, 32-bit indices) becomes ``void name(const float* restrict p0, ...)``.

Buffers are C pointers: parameters become pointer arguments, ``DeclBuffer`` views alias their
parent pointer, and ``AllocBuffer`` scratch becomes either a small stack array or a pointer
argument into the model's static arena (the caller plans it), so a kernel never allocates.
An IR node this printer does not know is an error, never a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import tvm
import tvm_ffi
from tvm import tirx

from ..errors import UnsupportedOperatorError
from ..lower import STACK_SCRATCH_LIMIT_BYTES, dtype_bytes  # one rule for stack vs arena scratch

#: TIR dtype -> C type.
C_TYPES = {
    "float32": "float",
    "float64": "double",
    "int8": "int8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "int64": "int64_t",
    "uint8": "uint8_t",
    "uint16": "uint16_t",
    "uint32": "uint32_t",
    "uint64": "uint64_t",
    "bool": "bool",
}

#: Loop annotation (lowered to an AttrStmt) that marks the start of a DAE phase; see dae.py.
PHASE_PRAGMA = "pragma_stm32dvfs_phase"
PHASE_NAMES = {0: "STM32DVFS_ACCESS", 1: "STM32DVFS_EXECUTE"}
#: Loop annotation of a flat copy to be done by DMA; see dae.py.
DMA_PRAGMA = "pragma_stm32dvfs_dma"


_FLOAT_MATH = {
    "exp": "exp",
    "exp2": "exp2",
    "exp10": None,
    "log": "log",
    "log2": "log2",
    "log10": "log10",
    "log1p": "log1p",
    "sqrt": "sqrt",
    "rsqrt": None,
    "tanh": "tanh",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "asin": "asin",
    "acos": "acos",
    "atan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "asinh": "asinh",
    "acosh": "acosh",
    "atanh": "atanh",
    "atan2": "atan2",
    "erf": "erf",
    "fabs": "fabs",
    "floor": "floor",
    "ceil": "ceil",
    "trunc": "trunc",
    "round": "nearbyint",
    "nearbyint": "nearbyint",
    "pow": "pow",
    "fmod": "fmod",
    "copysign": "copysign",
}


def c_type(dtype: str) -> str:
    try:
        return C_TYPES[str(dtype)]
    except KeyError:
        raise UnsupportedOperatorError(
            f"data type {dtype} has no C equivalent in this backend (supported: {', '.join(C_TYPES)})"
        ) from None


@dataclass(frozen=True)
class CParam:
    """One pointer argument of an emitted kernel."""

    name: str  # C identifier
    dtype: str
    elems: int
    written: bool
    scratch: bool  # True: kernel-private scratch planned in the arena, not a tensor argument


@dataclass(frozen=True)
class CFunction:
    name: str
    params: tuple[CParam, ...]
    body: str  # the whole definition
    uses_math: bool

    @property
    def prototype(self) -> str:
        return _prototype(self.name, self.params)


def _prototype(name: str, params: tuple[CParam, ...]) -> str:
    args = []
    for p in params:
        const = "" if p.written else "const "
        args.append(f"{const}{c_type(p.dtype)}* restrict {p.name}")
    return f"void {name}({', '.join(args) if args else 'void'})"


def _shape_elems(shape) -> int:
    n = 1
    for d in shape:
        if not isinstance(d, (tvm.tirx.IntImm, int)) and not hasattr(d, "value"):
            raise UnsupportedOperatorError(f"symbolic buffer dimension {d}: only static shapes are supported")
        n *= int(d.value if hasattr(d, "value") else d)
    return n


class _Namer:
    """Unique, valid C identifiers for TIR variables (TIR names repeat and may clash with C)."""

    _RESERVED = {"int", "float", "double", "char", "for", "if", "else", "while", "do", "return",
                 "void", "const", "static", "restrict", "bool", "break", "continue", "switch",
                 "case", "default", "goto", "sizeof", "struct", "union", "enum", "typedef", "auto",
                 "register", "extern", "volatile", "signed", "unsigned", "long", "short", "inline"}

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.names: dict[object, str] = {}

    def name(self, var, hint: str | None = None) -> str:
        key = var.__hash__()
        if key in self.names:
            return self.names[key]
        base = re.sub(r"\W", "_", hint or var.name) or "v"
        if base[0].isdigit() or base in self._RESERVED:
            base = "v_" + base
        cand, i = base, 1
        while cand in self.used:
            cand = f"{base}_{i}"
            i += 1
        self.used.add(cand)
        self.names[key] = cand
        return cand

    def alias(self, var, name: str) -> None:
        self.names[var.__hash__()] = name

    def lookup(self, var) -> str:
        try:
            return self.names[var.__hash__()]
        except KeyError:
            raise UnsupportedOperatorError(f"TIR variable '{var.name}' used before definition") from None


def _type_name(node) -> str:
    return type(node).__name__


def _dtype_of(expr) -> str:
    return str(expr.ty)


def _float_literal(value: float, dtype: str) -> str:
    suffix = "f" if dtype == "float32" else ""
    if math.isnan(value):
        return "NAN" if dtype == "float32" else "((double)NAN)"
    if math.isinf(value):
        s = "INFINITY" if dtype == "float32" else "((double)INFINITY)"
        return s if value > 0 else f"(-{s})"
    if dtype == "float32":
        # float32 maxima print exactly as FLT_MAX; avoids a double literal overflowing to inf.
        if abs(value) == 3.4028234663852886e38:
            return "FLT_MAX" if value > 0 else "(-FLT_MAX)"
        text = repr(float(value))
    else:
        text = repr(float(value))
    if "e" not in text and "." not in text:
        text += ".0"
    return f"{text}{suffix}" if value >= 0 else f"({text}{suffix})"


class TirToC:
    """Prints one flattened PrimFunc; see the module docstring for the conventions."""

    def __init__(self, func: tirx.PrimFunc, name: str) -> None:
        self.func = func
        self.fname = name
        self.names = _Namer()
        self.params: list[CParam] = []
        self.written: set[str] = set()
        self.uses_math = False
        self.helpers: set[str] = set()
        self._param_index: dict[str, int] = {}

    # ------------------------------------------------------------------ entry
    def emit(self) -> CFunction:
        for p in self.func.params:
            ty = p.ty
            if not isinstance(ty, tvm.tirx.buffer.BufferType):
                raise UnsupportedOperatorError(
                    f"kernel {self.fname}: scalar parameter '{p.name}' (only tensor arguments are supported)"
                )
            cname = self.names.name(p)
            self._param_index[cname] = len(self.params)
            self.params.append(CParam(cname, str(ty.dtype), _shape_elems(ty.shape), False, False))
        lines: list[str] = []
        self._stmt(self.func.body, lines, 1)
        params = tuple(
            CParam(p.name, p.dtype, p.elems, p.name in self.written, p.scratch) for p in self.params
        )
        header = _prototype(self.fname, params)
        body = header + "\n{\n" + "\n".join(lines) + "\n}\n"
        return CFunction(self.fname, params, body, self.uses_math)

    # ------------------------------------------------------------- statements
    def _stmt(self, s, out: list[str], ind: int) -> None:
        pad = "  " * ind
        t = _type_name(s)
        if t == "SeqStmt":
            for x in s.seq:
                self._stmt(x, out, ind)
        elif t == "AllocBuffer":
            buf = s.buffer
            dtype = str(buf.ty.dtype)
            elems = _shape_elems(buf.ty.shape)
            nbytes = elems * dtype_bytes(dtype)
            if nbytes <= STACK_SCRATCH_LIMIT_BYTES:
                name = self.names.name(buf)
                # (void): TIR may leave dead stores into a temporary; gcc drops them, -Werror must not trip
                out.append(f"{pad}{c_type(dtype)} {name}[{elems}];")
                out.append(f"{pad}(void){name};")
            else:
                name = self.names.name(buf, f"scratch_{buf.name}")
                self._param_index[name] = len(self.params)
                self.params.append(CParam(name, dtype, elems, True, True))
        elif t == "DeclBuffer":
            data = s.data
            if _type_name(data) != "Call" or data.op.name != "tirx.buffer_data":
                raise UnsupportedOperatorError(f"kernel {self.fname}: unsupported buffer declaration {s.buffer.name}")
            parent = self.names.lookup(data.args[0])
            off = s.buffer.ty.elem_offset
            if off is not None and not (hasattr(off, "value") and int(off.value) == 0):
                raise UnsupportedOperatorError(f"kernel {self.fname}: buffer view with offset {off}")
            self.names.alias(s.buffer, parent)
        elif t == "For":
            kernel_call = self._gemm(s) or self._dot_product(s)
            if kernel_call is not None:
                out.append(f"{pad}{kernel_call}")
                return
            var = self.names.name(s.loop_var)
            ty = c_type(_dtype_of(s.loop_var))
            lo = self._expr(s.min)
            ext = self._expr(s.extent)
            end = ext if _is_zero(s.min) else f"{lo} + {ext}"
            step = getattr(s, "step", None)
            if step is not None and not (hasattr(step, "value") and int(step.value) == 1):
                raise UnsupportedOperatorError(f"kernel {self.fname}: loop with step {step}")
            out.append(f"{pad}for ({ty} {var} = {lo}; {var} < {end}; ++{var}) {{")
            self._stmt(s.body, out, ind + 1)
            out.append(f"{pad}}}")
        elif t == "BufferStore":
            name = self.names.lookup(s.buffer)
            self.written.add(name)
            idx = self._index(s.indices)
            out.append(f"{pad}{name}[{idx}] = {self._expr(s.value)};")
        elif t == "IfThenElse":
            out.append(f"{pad}if ({self._cond(s.condition)}) {{")
            self._stmt(s.then_case, out, ind + 1)
            if s.else_case is not None:
                out.append(f"{pad}}} else {{")
                self._stmt(s.else_case, out, ind + 1)
            out.append(f"{pad}}}")
        elif t == "Evaluate":
            v = s.value
            if _type_name(v) in ("IntImm",):
                return
            out.append(f"{pad}(void){self._expr(v)};")
        elif t in ("LetStmt", "Bind"):
            var = self.names.name(s.var)
            out.append(f"{pad}const {c_type(_dtype_of(s.var))} {var} = {self._expr(s.value)};")
            if t == "LetStmt":
                self._stmt(s.body, out, ind)
        elif t == "AttrStmt":
            if str(s.attr_key) == DMA_PRAGMA:
                body = s.body
                if type(body).__name__ == "AttrStmt" and str(body.attr_key) == PHASE_PRAGMA:
                    out.append(f"{pad}stm32dvfs_phase({PHASE_NAMES[int(body.value.value)]});")
                    body = body.body
                out.append(f"{pad}{self._dma_copy(body)}")
                return
            if str(s.attr_key) == PHASE_PRAGMA:
                phase = PHASE_NAMES[int(s.value.value)]
                out.append(f"{pad}stm32dvfs_phase({phase});")
            self._stmt(s.body, out, ind)
        elif t == "While":
            out.append(f"{pad}while ({self._cond(s.condition)}) {{")
            self._stmt(s.body, out, ind + 1)
            out.append(f"{pad}}}")
        elif t == "Break":
            out.append(f"{pad}break;")
        elif t == "Continue":
            out.append(f"{pad}continue;")
        else:
            raise UnsupportedOperatorError(f"kernel {self.fname}: TIR statement {t} is not supported by the C emitter")

    def _dma_copy(self, loop) -> str:
        """``for i: dst[d + i] = src[s + i]`` -> ``stm32dvfs_dma_copy(&dst[d], &src[s], bytes)``.

        The DAE schedule produces exactly this shape for a DMA access; anything else is a bug."""
        store = loop.body if type(loop).__name__ == "For" else None
        ok = store is not None and type(store).__name__ == "BufferStore" and _is_zero(loop.min)
        # a bare load as the stored value: TIR then guarantees source and destination share a dtype
        ok = ok and type(store.value).__name__ == "TensorLoad"
        if ok:
            i = loop.loop_var
            dst = tvm.sym.detect_linear_equation(store.indices[0], [i])
            src = tvm.sym.detect_linear_equation(store.value.indices[0], [i])
            ok = len(dst) == 2 and len(src) == 2 and _is_one(dst[0]) and _is_one(src[0])
        if not ok:
            raise UnsupportedOperatorError(f"kernel {self.fname}: a DMA copy that is not one contiguous transfer")
        self.written.add(self.names.lookup(store.buffer))
        dtype = _dtype_of(store.value)
        return (f"stm32dvfs_dma_copy(&{self.names.lookup(store.buffer)}[{self._expr(dst[1])}], "
                f"&{self.names.lookup(store.value.source)}[{self._expr(src[1])}], "
                f"(uint32_t)({self._expr(loop.extent)}) * {dtype_bytes(dtype)}u);")

    def _match_dot(self, loop):
        """``for k: acc[i] = acc[i] + int32(a[u + k]) * int32(b[v + k])`` over int16 a, b (k from 0):
        returns (store, a_load, u, b_load, v) or None."""
        store = loop.body
        if type(store).__name__ != "BufferStore" or not _is_zero(loop.min):
            return None
        k = loop.loop_var
        value = store.value
        if type(value).__name__ != "Add" or _dtype_of(value) != "int32":
            return None
        acc, prod = value.a, value.b
        if type(acc).__name__ != "TensorLoad" or not acc.source.same_as(store.buffer):
            return None
        if not tvm_ffi.structural_equal(acc.indices[0], store.indices[0]) or _uses(store.indices[0], k):
            return None
        if type(prod).__name__ != "Mul":
            return None
        found = []
        for operand in (prod.a, prod.b):
            if type(operand).__name__ != "Cast" or type(operand.value).__name__ != "TensorLoad":
                return None
            load = operand.value
            if _dtype_of(load) != "int16":
                return None
            coeffs = tvm.sym.detect_linear_equation(load.indices[0], [k])
            if len(coeffs) != 2 or not _is_one(coeffs[0]):
                return None
            found += [load, coeffs[1]]
        return (store, *found)

    def _dot_product(self, loop) -> str | None:
        """The dot-product loop of :meth:`_match_dot` -> ``stm32dvfs_dot_s16`` (SMLAD on Cortex-M,
        see runtime/include/stm32dvfs_dsp.h); None when the loop is anything else."""
        m = self._match_dot(loop)
        if m is None:
            return None
        store, a, u, b, v = m
        self.written.add(self.names.lookup(store.buffer))
        target = f"{self.names.lookup(store.buffer)}[{self._index(store.indices)}]"
        return (f"{target} = {target} + stm32dvfs_dot_s16(&{self.names.lookup(a.source)}[{self._expr(u)}], "
                f"&{self.names.lookup(b.source)}[{self._expr(v)}], {self._expr(loop.extent)});")

    def _gemm(self, outer) -> str | None:
        """``for p: for c: { acc[..] = 0; <dot product over k> }`` with a's rows following p, b's rows
        following c and acc linear in both -> one ``stm32dvfs_gemm_s16`` call (2x2 register
        blocking); None when the nest is anything else."""
        inner = outer.body
        if type(inner).__name__ != "For" or not _is_zero(outer.min) or not _is_zero(inner.min):
            return None
        body = inner.body
        if type(body).__name__ != "SeqStmt" or len(body.seq) != 2:
            return None
        init, dot = body.seq
        if type(init).__name__ != "BufferStore" or type(dot).__name__ != "For":
            return None
        if type(init.value).__name__ != "IntImm" or int(init.value.value) != 0:
            return None
        m = self._match_dot(dot)
        if m is None:
            return None
        store, a, u, b, v = m
        if not init.buffer.same_as(store.buffer) or not tvm_ffi.structural_equal(init.indices[0], store.indices[0]):
            return None
        self.written.add(self.names.lookup(store.buffer))
        p, c = outer.loop_var, inner.loop_var
        au = tvm.sym.detect_linear_equation(u, [p])
        bv = tvm.sym.detect_linear_equation(v, [c])
        acc = tvm.sym.detect_linear_equation(store.indices[0], [p, c])
        if len(au) != 2 or len(bv) != 2 or len(acc) != 3:
            return None
        if _uses(au[1], c) or _uses(au[1], p) or _uses(bv[1], p) or _uses(bv[1], c) or _uses(acc[2], p) or _uses(acc[2], c):
            return None
        args = [
            f"&{self.names.lookup(a.source)}[{self._expr(au[1])}]", self._expr(au[0]),
            f"&{self.names.lookup(b.source)}[{self._expr(bv[1])}]", self._expr(bv[0]),
            f"&{self.names.lookup(store.buffer)}[{self._expr(acc[2])}]", self._expr(acc[0]), self._expr(acc[1]),
            self._expr(outer.extent), self._expr(inner.extent), self._expr(dot.extent),
        ]
        return f"stm32dvfs_gemm_s16({', '.join(args)});"

    # ------------------------------------------------------------ expressions
    def _index(self, indices) -> str:
        if len(indices) != 1:
            raise UnsupportedOperatorError(f"kernel {self.fname}: buffer access not flattened ({len(indices)} indices)")
        return self._expr(indices[0])

    def _cond(self, e) -> str:
        text = self._expr(e)
        if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
            return text[1:-1]
        return text

    _BINOPS = {"Add": "+", "Sub": "-", "Mul": "*", "EQ": "==", "NE": "!=", "LT": "<", "LE": "<=",
               "GT": ">", "GE": ">=", "And": "&&", "Or": "||", "BitwiseAnd": "&", "BitwiseOr": "|",
               "BitwiseXor": "^", "LShift": "<<", "RShift": ">>"}

    def _expr(self, e) -> str:
        t = _type_name(e)
        if t == "IntImm":
            dt = _dtype_of(e)
            v = int(e.value)
            if dt == "bool":
                return "true" if v else "false"
            if dt == "int64":
                return f"INT64_C({v})" if v >= 0 else f"(-INT64_C({-v}))" if v != -(2**63) else "INT64_MIN"
            if dt == "int32" and v == -(2**31):
                return "INT32_MIN"
            if dt.startswith("uint"):
                return f"{v}u"
            return str(v) if v >= 0 else f"({v})"
        if t == "FloatImm":
            return _float_literal(float(e.value), _dtype_of(e))
        if t == "Var":
            return self.names.lookup(e)
        if t == "TensorLoad":
            return f"{self.names.lookup(e.source)}[{self._index(e.indices)}]"
        if t in self._BINOPS:
            return f"({self._expr(e.a)} {self._BINOPS[t]} {self._expr(e.b)})"
        if t == "Div":
            dt = _dtype_of(e)
            if dt.startswith("float"):
                return f"({self._expr(e.a)} / {self._expr(e.b)})"
            return f"({self._expr(e.a)} / {self._expr(e.b)})"  # TIR Div on integers truncates, as C does
        if t == "Mod":
            return f"({self._expr(e.a)} % {self._expr(e.b)})"
        if t in ("FloorDiv", "FloorMod"):
            dt = _dtype_of(e)
            if dt.startswith("float"):
                a, b = self._expr(e.a), self._expr(e.b)
                fn = "floorf" if dt == "float32" else "floor"
                self.uses_math = True
                if t == "FloorDiv":
                    return f"{fn}({a} / {b})"
                return f"({a} - {fn}({a} / {b}) * {b})"
            helper = f"stm32dvfs_{'floordiv' if t == 'FloorDiv' else 'floormod'}_{c_type(dt)}"
            self.helpers.add(f"{t}:{dt}")
            return f"{helper}({self._expr(e.a)}, {self._expr(e.b)})"
        if t in ("Min", "Max"):
            dt = _dtype_of(e)
            a, b = self._expr(e.a), self._expr(e.b)
            self.helpers.add(f"{t}:{dt}")
            return f"stm32dvfs_{t.lower()}_{c_type(dt).replace(' ', '_')}({a}, {b})"
        if t == "Not":
            return f"(!{self._expr(e.a)})"
        if t == "Select":
            return f"({self._cond(e.condition)} ? {self._expr(e.true_value)} : {self._expr(e.false_value)})"
        if t == "Cast":
            dt = _dtype_of(e)
            return f"(({c_type(dt)})({self._expr(e.value)}))"
        if t == "Call":
            return self._call(e)
        if t == "Let":
            raise UnsupportedOperatorError(f"kernel {self.fname}: let-expression in TIR is not supported")
        raise UnsupportedOperatorError(f"kernel {self.fname}: TIR expression {t} is not supported by the C emitter")

    def _call(self, e) -> str:
        op = e.op
        name = op.name if hasattr(op, "name") else str(op)
        args = list(e.args)
        dt = _dtype_of(e)
        if name == "prim.if_then_else" or name == "tirx.if_then_else":
            return f"({self._cond(args[0])} ? {self._expr(args[1])} : {self._expr(args[2])})"
        if name in ("tirx.likely",):
            return self._expr(args[0])
        if name in ("tirx.call_extern", "tirx.call_pure_extern"):
            fn = str(args[0].value)
            return f"{fn}({', '.join(self._expr(a) for a in args[1:])})"
        if name in ("tirx.isnan", "tirx.isinf", "tirx.isfinite"):
            self.uses_math = True
            return f"{name.split('.')[1]}({self._expr(args[0])})"
        if name == "tirx.bitwise_not":
            return f"(~{self._expr(args[0])})"
        if name in ("tirx.shift_left", "tirx.shift_right"):
            sym = "<<" if name.endswith("left") else ">>"
            return f"({self._expr(args[0])} {sym} {self._expr(args[1])})"
        if name in ("tirx.bitwise_and", "tirx.bitwise_or", "tirx.bitwise_xor"):
            sym = {"and": "&", "or": "|", "xor": "^"}[name.rsplit("_", 1)[1]]
            return f"({self._expr(args[0])} {sym} {self._expr(args[1])})"
        if name == "tirx.sigmoid":
            self.uses_math = True
            fn = "expf" if dt == "float32" else "exp"
            one = "1.0f" if dt == "float32" else "1.0"
            return f"({one} / ({one} + {fn}(-({self._expr(args[0])}))))"
        if name == "tirx.rsqrt":
            self.uses_math = True
            fn = "sqrtf" if dt == "float32" else "sqrt"
            one = "1.0f" if dt == "float32" else "1.0"
            return f"({one} / {fn}({self._expr(args[0])}))"
        if name.startswith("tirx."):
            base = name[len("tirx."):]
            cfn = _FLOAT_MATH.get(base)
            if cfn is not None and dt.startswith("float"):
                self.uses_math = True
                if base == "fabs" and not dt.startswith("float"):
                    return f"abs({self._expr(args[0])})"
                fn = cfn + ("f" if dt == "float32" else "")
                return f"{fn}({', '.join(self._expr(a) for a in args)})"
            if base == "fabs" and dt.startswith("int"):
                return f"(({self._expr(args[0])}) < 0 ? -({self._expr(args[0])}) : ({self._expr(args[0])}))"
        raise UnsupportedOperatorError(f"kernel {self.fname}: TIR intrinsic {name} ({dt}) is not supported by the C emitter")


def _is_zero(e) -> bool:
    return type(e).__name__ == "IntImm" and int(e.value) == 0


def _is_one(e) -> bool:
    return type(e).__name__ == "IntImm" and int(e.value) == 1


def _uses(expr, var) -> bool:
    """Whether ``var`` occurs in ``expr``."""
    found = []

    def visit(node):
        if type(node).__name__ == "Var" and node.same_as(var):
            found.append(node)

    tvm_ffi.structural_walk(expr, visit)
    return bool(found)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def helper_definitions(helpers: set[str]) -> str:
    """Static inline helpers for min/max/floordiv/floormod, one per (op, dtype) used."""
    out = []
    for key in sorted(helpers):
        op, dt = key.split(":")
        ct = c_type(dt)
        tag = ct.replace(" ", "_")
        if op == "Min":
            out.append(f"static inline {ct} stm32dvfs_min_{tag}({ct} a, {ct} b) {{ return a < b ? a : b; }}")
        elif op == "Max":
            out.append(f"static inline {ct} stm32dvfs_max_{tag}({ct} a, {ct} b) {{ return a > b ? a : b; }}")
        elif op == "FloorDiv":
            out.append(
                f"static inline {ct} stm32dvfs_floordiv_{tag}({ct} a, {ct} b)\n"
                f"{{\n  {ct} q = a / b;\n  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;\n}}"
            )
        elif op == "FloorMod":
            out.append(
                f"static inline {ct} stm32dvfs_floormod_{tag}({ct} a, {ct} b)\n"
                f"{{\n  {ct} r = a % b;\n  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;\n}}"
            )
    return "\n".join(out)


def emit_function(func: tirx.PrimFunc, name: str) -> tuple[CFunction, set[str]]:
    """Print ``func`` as the C function ``name``; returns it and the helpers it needs."""
    printer = TirToC(func, name)
    cf = printer.emit()
    return cf, printer.helpers
