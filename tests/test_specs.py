"""prcvd.specs: the ten UbiOps data types, and messages that name the field, the value and what is allowed."""
import json

import pytest

from prcvd.errors import OutputError, SpecError
from prcvd.specs import DATA_TYPES, Spec

ALL = Spec.from_dict({"input_type": "structured",
                      "input_fields": [{"name": t.replace("_", "-"), "data_type": t} for t in DATA_TYPES]}, "input")
GOOD = {"int": 3, "string": "s", "double": 2.5, "bool": True, "dict": {"a": 1}, "file": "/tmp/x.png",
        "array-int": [1, 2], "array-double": [1, 2.5], "array-string": ["a"], "array-file": ["/tmp/a", "/tmp/b"]}


def test_ten_types_accept_good_values():
    assert ALL.check(GOOD) is GOOD


@pytest.mark.parametrize("field,value,message", [
    ("int", True, "Input field 'int' must be an integer; got bool True"),
    ("int", 1.5, "must be an integer; got float 1.5"),
    ("double", "1", "must be a finite number; got str '1'"),
    ("double", float("nan"), "must be a finite number; got float nan"),
    ("bool", 1, "must be true or false; got int 1"),
    ("string", None, "must be a string; got null"),
    ("dict", [], "must be a JSON object; got list []"),
    ("file", "", "must be a file"),
    ("array-int", [1, "2"], "must be a list of an integer values; item 1 is str '2'"),
    ("array-double", 3.0, "must be a list of a finite number values; got float 3.0"),
    ("array-string", [1], "item 0 is int 1"),
    ("array-file", [""], "item 0 is str ''"),
])
def test_wrong_type_names_field_value_and_expectation(field, value, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        ALL.check({**GOOD, field: value})


def test_missing_field():
    data = dict(GOOD)
    del data["bool"]
    with pytest.raises(SpecError, match="Input field 'bool' is missing; expected fields: int \\(int\\)"):
        ALL.check(data)


def test_extra_field():
    with pytest.raises(SpecError, match="Input field 'colour' is not declared in the input spec"):
        ALL.check({**GOOD, "colour": "red"})


def test_not_an_object():
    with pytest.raises(SpecError, match="must be a JSON object with fields"):
        ALL.check(["a"])


def test_plain_spec_wants_a_string():
    plain = Spec.from_dict({"output_type": "plain"}, "output")
    assert plain.check("hello") == "hello"
    with pytest.raises(OutputError, match="Output must be plain text"):
        plain.check({"a": 1})


def test_output_spec_raises_output_error():
    out = Spec.from_dict({"output_type": "structured", "output_fields": [{"name": "n", "data_type": "int"}]}, "output")
    import numpy as np
    with pytest.raises(OutputError, match="Output field 'n' must be an integer; got int64"):
        out.check({"n": np.int64(3)})


@pytest.mark.parametrize("spec,message", [
    ({"input_type": "json"}, "'input_type' is 'json'; allowed: structured, plain"),
    ({"input_type": "structured", "input_fields": [{"name": "x", "data_type": "image"}]},
     "field 'x' has data_type 'image'; allowed: int, string"),
    ({"input_type": "structured", "input_fields": [{"name": "1x", "data_type": "int"}]}, "field 0 has name '1x'"),
    ({"input_type": "structured", "input_fields": [{"name": "x", "data_type": "int"}] * 2}, "'x' is declared twice"),
    ({"input_type": "plain", "input_fields": [{"name": "x", "data_type": "int"}]}, "a plain input has no fields"),
    ([], "must be a JSON object"),
])
def test_malformed_specs_are_refused(spec, message):
    with pytest.raises(SpecError, match=message):
        Spec.from_dict(spec, "input")


def test_load_names_the_file(tmp_path):
    (tmp_path / "input_spec.json").write_text("{not json")
    with pytest.raises(SpecError, match="input_spec.json: not valid JSON"):
        Spec.load(tmp_path / "input_spec.json", "input")
    with pytest.raises(SpecError, match="output_spec.json: not found"):
        Spec.load(tmp_path / "output_spec.json", "output")


def test_round_trip_of_the_project_specs():
    from conftest import ROOT
    for kind in ("input", "output"):
        raw = json.loads((ROOT / f"{kind}_spec.json").read_text())
        assert Spec.load(ROOT / f"{kind}_spec.json", kind).to_dict() == raw
