"""UbiOps input/output specs: load and check a spec, then check data against it.

A spec is what UbiOps stores for a deployment: `{"input_type": "structured", "input_fields": [{"name": ...,
"data_type": ...}]}` (and the same with `output_`). Data inside a deployment carries local paths for `file` fields.
"""
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError, SpecError

IO_TYPES = ("structured", "plain")
DATA_TYPES = ("int", "string", "double", "bool", "dict", "file",
              "array_int", "array_double", "array_string", "array_file")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def _is_int(v): return isinstance(v, int) and not isinstance(v, bool)
def _is_double(v): return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


_SCALAR = {
    "int": (_is_int, "an integer"),
    "double": (_is_double, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "string": (lambda v: isinstance(v, str), "a string"),
    "dict": (lambda v: isinstance(v, dict), "a JSON object"),
    "file": (lambda v: isinstance(v, str) and v != "", "a file (a non-empty path or ubiops-file:// URI)"),
}


def _describe(v) -> str:
    "A short, safe picture of a wrong value for an error message."
    if v is None: return "null"
    text = repr(v)
    return f"{type(v).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _type_error(data_type: str, v):
    "Why `v` is not a `data_type`, or None when it is."
    if data_type.startswith("array_"):
        check, what = _SCALAR[data_type[len("array_"):]]
        if not isinstance(v, list):
            return f"must be a list of {what} values; got {_describe(v)}"
        bad = next((i for i, item in enumerate(v) if not check(item)), None)
        return None if bad is None else f"must be a list of {what} values; item {bad} is {_describe(v[bad])}"
    check, what = _SCALAR[data_type]
    return None if check(v) else f"must be {what}; got {_describe(v)}"


@dataclass(frozen=True)
class Field:
    name: str
    data_type: str


@dataclass(frozen=True)
class Spec:
    "One side (input or output) of a UbiOps deployment's interface."
    kind: str  # "input" or "output"
    type: str  # "structured" or "plain"
    fields: tuple[Field, ...] = ()

    @classmethod
    def from_dict(cls, d: dict, kind: str, source: str = "spec"):
        "Build and validate a spec from UbiOps' JSON shape; errors name `source` and the offending key."
        if not isinstance(d, dict):
            raise SpecError(f"{source}: must be a JSON object with '{kind}_type' and '{kind}_fields'.")
        io_type = d.get(f"{kind}_type")
        if io_type not in IO_TYPES:
            raise SpecError(f"{source}: '{kind}_type' is {io_type!r}; allowed: {', '.join(IO_TYPES)}.")
        raw = d.get(f"{kind}_fields") or []
        if io_type == "plain" and raw:
            raise SpecError(f"{source}: a plain {kind} has no fields; remove '{kind}_fields' or use 'structured'.")
        if not isinstance(raw, list):
            raise SpecError(f"{source}: '{kind}_fields' must be a list of {{name, data_type}} objects.")
        fields = []
        for i, f in enumerate(raw):
            name = f.get("name") if isinstance(f, dict) else None
            data_type = f.get("data_type") if isinstance(f, dict) else None
            if not isinstance(name, str) or not FIELD_NAME.match(name):
                raise SpecError(f"{source}: {kind} field {i} has name {name!r}; a name is 1-64 letters, digits, "
                                "'_' or '-', starting with a letter.")
            if data_type not in DATA_TYPES:
                raise SpecError(f"{source}: {kind} field '{name}' has data_type {data_type!r}; "
                                f"allowed: {', '.join(DATA_TYPES)}.")
            if name in (g.name for g in fields):
                raise SpecError(f"{source}: {kind} field '{name}' is declared twice.")
            fields.append(Field(name, data_type))
        return cls(kind, io_type, tuple(fields))

    @classmethod
    def load(cls, path, kind: str):
        "Read and validate a spec file such as `input_spec.json`."
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise SpecError(f"{path.name}: not found; every deployment needs its {kind} spec.")
        except json.JSONDecodeError as e:
            raise SpecError(f"{path.name}: not valid JSON ({e}).")
        return cls.from_dict(d, kind, path.name)

    def to_dict(self) -> dict:
        "UbiOps' JSON shape, as the API and the CLI's YAML take it."
        return {f"{self.kind}_type": self.type,
                f"{self.kind}_fields": [{"name": f.name, "data_type": f.data_type} for f in self.fields]}

    def check(self, data):
        "Raise `SpecError` (input) or `OutputError` (output) naming the field unless `data` matches; return `data`."
        error = SpecError if self.kind == "input" else OutputError
        Kind = self.kind.capitalize()
        if self.type == "plain":
            if not isinstance(data, str):
                raise error(f"{Kind} must be plain text (a string); got {_describe(data)}.")
            return data
        expected = ", ".join(f"{f.name} ({f.data_type})" for f in self.fields)
        if not isinstance(data, dict):
            raise error(f"{Kind} must be a JSON object with fields {expected}; got {_describe(data)}.")
        missing = [f.name for f in self.fields if f.name not in data]
        if missing:
            raise error(f"{Kind} field{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))} "
                        f"{'are' if len(missing) > 1 else 'is'} missing; "
                        f"expected fields: {expected}.")
        names = {f.name for f in self.fields}
        extra = sorted(k for k in data if k not in names)
        if extra:
            raise error(f"{Kind} field{'s' * (len(extra) > 1)} {', '.join(map(repr, extra))} "
                        f"{'are' if len(extra) > 1 else 'is'} not declared in the "
                        f"{self.kind} spec; expected fields: {expected}.")
        for f in self.fields:
            why = _type_error(f.data_type, data[f.name])
            if why:
                raise error(f"{Kind} field '{f.name}' {why}.")
        return data
