"""Print a lowered (flattened) TIR PrimFunc as a plain C11 function.

TVM 0.27's own C codegen emits the packed FFI calling convention (``TVMFFIAny``, ``DLTensor``)
and needs TVM's headers and runtime. A microcontroller model wants neither, so this module owns
the last step: a PrimFunc after :func:`tvm_stm32dvfs.lower.lower_primfuncs` (blocks removed,
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
from ..lower import in_arena  # one rule for stack vs arena scratch
from ..lower.library import KERNELS
from ..vocabulary import PHASE_C_NAMES, PHASE_PRAGMA

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
        self._structs: list[str] = []  # declarations of the library calls' argument structs
        self._struct_names: dict[str, str] = {}  # initializer -> variable

    # ------------------------------------------------------------------ entry
    def _param_names(self) -> dict[int, str]:
        """Parameter index -> its role in a library call (input, weights, ...), when there is one."""
        import json

        if self.func.attrs is None or "stm32dvfs.micro_kernel" not in self.func.attrs:
            return {}
        spec = json.loads(str(self.func.attrs["stm32dvfs.micro_kernel"]))
        return {index: role for role, index in spec["params"].items()}

    def emit(self) -> CFunction:
        roles = self._param_names()
        for i, p in enumerate(self.func.params):
            ty = p.ty
            if not isinstance(ty, tvm.tirx.buffer.BufferType):
                raise UnsupportedOperatorError(
                    f"kernel {self.fname}: scalar parameter '{p.name}' (only tensor arguments are supported)"
                )
            cname = self.names.name(p, roles.get(i) or _readable(p.name, i))
            self.params.append(CParam(cname, str(ty.dtype), _shape_elems(ty.shape), False, False))
        lines: list[str] = []
        self._stmt(self.func.body, lines, 1)
        params = tuple(
            CParam(p.name, p.dtype, p.elems, p.name in self.written, p.scratch) for p in self.params
        )
        header = _prototype(self.fname, params)
        body = header + "\n{\n" + "".join(self._structs) + "\n".join(lines) + "\n}\n"
        return CFunction(self.fname, params, body, self.uses_math)

    # ------------------------------------------------------------- statements
    def _stmt(self, s, out: list[str], ind: int) -> None:
        """Print statement ``s`` into ``out`` at indentation ``ind``: one method per TIR node
        type (``_print_<type>``); a statement without one is an error, never skipped."""
        t = _type_name(s)
        printer = getattr(self, f"_print_{t}", None)
        if printer is None:
            raise UnsupportedOperatorError(f"kernel {self.fname}: TIR statement {t} is not supported by the C emitter")
        printer(s, out, ind, "  " * ind)

    def _print_SeqStmt(self, s, out, ind, pad):
        for x in s.seq:
            self._stmt(x, out, ind)

    def _print_AllocBuffer(self, s, out, ind, pad):
        buf = s.buffer
        dtype = str(buf.ty.dtype)
        elems = _shape_elems(buf.ty.shape)
        if not in_arena(s):
            name = self.names.name(buf)
            # (void): TIR may leave dead stores into a temporary; gcc drops them, -Werror must not trip
            out.append(f"{pad}{c_type(dtype)} {name}[{elems}];")
            out.append(f"{pad}(void){name};")
        else:
            name = self.names.name(buf, buf.name if s.annotations and "stm32dvfs.scratch" in s.annotations
                                   else f"scratch_{buf.name}")
            self.params.append(CParam(name, dtype, elems, True, True))

    def _print_DeclBuffer(self, s, out, ind, pad):
        data = s.data
        if _type_name(data) != "Call" or data.op.name != "tirx.buffer_data":
            raise UnsupportedOperatorError(f"kernel {self.fname}: unsupported buffer declaration {s.buffer.name}")
        parent = self.names.lookup(data.args[0])
        off = s.buffer.ty.elem_offset
        if off is not None and not (hasattr(off, "value") and int(off.value) == 0):
            raise UnsupportedOperatorError(f"kernel {self.fname}: buffer view with offset {off}")
        self.names.alias(s.buffer, parent)

    def _print_For(self, s, out, ind, pad):
        var = self.names.name(s.loop_var)
        ty = c_type(_dtype_of(s.loop_var))
        lo = self._expr(s.min)
        ext = self._expr(s.extent)
        end = ext if _is_zero(s.min) else f"{lo} + {ext}"
        step = getattr(s, "step", None)
        if step is not None and not (hasattr(step, "value") and int(step.value) == 1):
            raise UnsupportedOperatorError(f"kernel {self.fname}: loop with step {step}")
        self._block(f"{pad}for ({ty} {var} = {lo}; {var} < {end}; ++{var}) {{", s.body, out, ind)

    def _print_BufferStore(self, s, out, ind, pad):
        name = self.names.lookup(s.buffer)
        self.written.add(name)
        out.append(f"{pad}{name}[{self._index(s.indices)}] = {self._expr(s.value)};")

    def _print_IfThenElse(self, s, out, ind, pad):
        out.append(f"{pad}if ({self._cond(s.condition)}) {{")
        self._stmt(s.then_case, out, ind + 1)
        if s.else_case is not None:
            out.append(f"{pad}}} else {{")
            self._stmt(s.else_case, out, ind + 1)
        out.append(f"{pad}}}")

    def _print_Evaluate(self, s, out, ind, pad):
        if _type_name(s.value) != "IntImm":
            out.append(f"{pad}(void){self._expr(s.value)};")

    def _print_Bind(self, s, out, ind, pad):
        var = self.names.name(s.var)
        out.append(f"{pad}const {c_type(_dtype_of(s.var))} {var} = {self._expr(s.value)};")

    def _print_LetStmt(self, s, out, ind, pad):
        self._print_Bind(s, out, ind, pad)
        self._stmt(s.body, out, ind)

    def _print_AttrStmt(self, s, out, ind, pad):
        if str(s.attr_key) == PHASE_PRAGMA:
            out.append(f"{pad}stm32dvfs_phase({PHASE_C_NAMES[int(s.value.value)]});")
        self._stmt(s.body, out, ind)

    def _print_While(self, s, out, ind, pad):
        self._block(f"{pad}while ({self._cond(s.condition)}) {{", s.body, out, ind)

    def _print_Break(self, s, out, ind, pad):
        out.append(f"{pad}break;")

    def _print_Continue(self, s, out, ind, pad):
        out.append(f"{pad}continue;")

    def _block(self, head: str, body, out: list[str], ind: int) -> None:
        out.append(head)
        self._stmt(body, out, ind + 1)
        out.append("  " * ind + "}")

    def _argument(self, value) -> str:
        """An argument of a call: a whole buffer by its name, an element's address as &name[i]."""
        if type(value).__name__ == "Call" and value.op.name == "tirx.address_of" and _is_zero(value.args[0].indices[0]):
            return self.names.lookup(value.args[0].source)
        return self._expr(value)

    def _pointer(self, value, ctype: str) -> str:
        """A pointer field: the buffer's name when it has the field's type, else a cast."""
        if type(value).__name__ == "Call" and value.op.name == "tirx.address_of":
            load = value.args[0]
            name = self.names.lookup(load.source)
            if not ctype.startswith("const"):  # the kernel writes through it
                self.written.add(name)
            same = ctype.replace("const ", "") == f"{c_type(str(load.ty))}*"
            if same and _is_zero(load.indices[0]):
                return name
            return f"({ctype})&{name}[{self._index(load.indices)}]"
        return f"({ctype}){self._expr(value)}"

    def _struct_call(self, fn: str, spec, args) -> str:
        """A library kernel call. Its argument struct is declared once at the top of the function
        (``const <struct> layer = {...}``: nested structs grouped, zero fields left out, the values
        constants the compiler propagates into the inlined micro-kernels); the call passes its
        address and the scalar arguments after it."""
        fields = spec.struct.fields
        if len(args) != len(fields) + len(spec.extra):
            raise UnsupportedOperatorError(f"kernel {self.fname}: {fn} takes {len(fields)} struct fields and "
                                           f"{len(spec.extra)} arguments, got {len(args)}")
        groups: dict[str, list[str]] = {}
        for (field, ctype), value in zip(fields, args):
            if _is_zero(value) if type(value).__name__ == "IntImm" else False:
                continue
            text = self._pointer(value, ctype) if ctype.endswith("*") else self._expr(value)
            group, _, leaf = field.rpartition(".")
            groups.setdefault(group, []).append(f".{leaf or field} = {text}")
        parts = []
        for group, inits in groups.items():
            if group:
                parts.append(f"    .{group} = {{{', '.join(inits)}}},\n")
            else:
                parts.append("    " + ", ".join(inits) + ",\n")
        initializer = "".join(parts)
        var = self._struct_names.get(initializer)
        if var is None:
            var = "layer" if not self._struct_names else f"layer_{len(self._struct_names)}"
            self._struct_names[initializer] = var
            self._structs.append(f"  const {spec.struct.name} {var} = {{\n{initializer}  }};\n")
        extra = [self._expr(a) for a in args[len(fields):]]
        return f"{fn}(&{var}{''.join(', ' + e for e in extra)})"

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
        if t == "Div":  # on integers TIR's Div truncates, as C's does
            return f"({self._expr(e.a)} / {self._expr(e.b)})"
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
            spec = KERNELS.get(fn)
            if spec is not None and spec.struct is not None:
                return self._struct_call(fn, spec, args[1:])
            for i in spec.writes if spec is not None else ():
                self.written.add(self.names.lookup(args[1 + i].args[0].source))
            return f"{fn}({', '.join(self._argument(a) for a in args[1:])})"
        if name == "tirx.address_of":
            return f"&{self._expr(args[0])}"
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
                fn = cfn + ("f" if dt == "float32" else "")
                return f"{fn}({', '.join(self._expr(a) for a in args)})"
            if base == "fabs" and dt.startswith("int"):
                return f"(({self._expr(args[0])}) < 0 ? -({self._expr(args[0])}) : ({self._expr(args[0])}))"
        raise UnsupportedOperatorError(f"kernel {self.fname}: TIR intrinsic {name} ({dt}) is not supported by the C emitter")


def _readable(name: str, index: int) -> str:
    """A parameter's name, unless it is one TVM made up (``lv3``, ``B``, ``param_0``): then what
    it is by position (the call site's comment names the model's tensor bound to it)."""
    if re.fullmatch(r"lv\d*", name):
        return f"input{index}"
    if re.fullmatch(r"[A-Z]|param_\d+", name):
        return f"constant{index}"
    return name


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
