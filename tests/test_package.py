"""mod.build.package and mod.build.smoke: a byte-reproducible, validated zip that runs exactly as UbiOps runs it."""
import json
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from mod.core import sha256_file
from mod.build.package import PackageError, build, check_deployment, copy_checkout, package_files, pinned_requirements
from mod.build.rules import ENV_DIR, ENVIRONMENT_FILES, check_requirements, environment_zip, settings_pins
from mod.build.smoke import GENERIC_ERROR, SmokeError, contexts, run_package, smoke
from mod.build.zips import FILE_MODE, ZIP_DATE, environment_files, unpack_package, write_zip
from prcvd.specs import Spec

from conftest import PORTRAIT, ROOT

FIXTURES = Path(__file__).parent / "fixtures"
MOD = Path(sys.executable).parent / "mod"  # the CLI of the environment running the tests


@pytest.fixture
def checkout(tmp_path, fixture_checkout) -> Path:
    "A private copy of what a build reads (the fixture package's checkout: any installed model), to change and build."
    return copy_checkout(fixture_checkout, tmp_path / "checkout")


@pytest.fixture(scope="session")
def built(built_zip) -> Path:
    return built_zip


@pytest.fixture(scope="session")
def unpacked(built, tmp_path_factory) -> Path:
    return unpack_package(built, tmp_path_factory.mktemp("unpacked") / "p")


def fixture_zip(name: str, tmp_path: Path, requirements: str = "") -> Path:
    "Zip the fixture package `name` (tests/fixtures/) with the portrait fixture's specs, and `requirements` as its environment."
    pkg, env = tmp_path / name, tmp_path / ENV_DIR
    shutil.copytree(FIXTURES / name, pkg)
    for spec in ("input_spec.json", "output_spec.json"):
        shutil.copyfile(PORTRAIT / spec, pkg / spec)
    write_zip(pkg, package_files(pkg), tmp_path / f"{name}.zip")
    env.mkdir()
    (env / "requirements.txt").write_text(requirements)
    write_zip(env, ["requirements.txt"], environment_zip(tmp_path / f"{name}.zip"), top=ENV_DIR)
    return tmp_path / f"{name}.zip"


# Determinism

def test_two_builds_give_the_same_zip(checkout):
    first, second = build(checkout), build(checkout)
    assert first["sha256"] == second["sha256"] == sha256_file(checkout / "deployment_package.zip")


def test_builds_in_two_checkout_folders_give_the_same_zip(built, tmp_path):
    other = copy_checkout(built.parent, tmp_path / "somewhere" / "else" / "face-portrait")
    assert build(other)["sha256"] == json.loads(built.with_suffix(".build.json").read_text())["sha256"]


def test_a_changed_runtime_module_changes_the_zip(checkout):
    before = build(checkout)["sha256"]
    with open(checkout / "libraries" / "mod" / "core.py", "a") as f:
        f.write("# a notebook edit, exported\n")
    assert build(checkout)["sha256"] != before


def test_zip_entries_are_sorted_with_fixed_times_and_modes(built):
    with zipfile.ZipFile(built) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and not any(n.endswith("/") for n in names)
    assert {(i.date_time, i.external_attr >> 16, i.compress_type, i.create_system) for i in infos} == {
        (ZIP_DATE, FILE_MODE, zipfile.ZIP_DEFLATED, 3)}


def test_the_pickle_is_copied_byte_for_byte(built, unpacked):
    manifest = json.loads((unpacked / "model1.json").read_text())
    assert sha256_file(unpacked / "model1.pkl") == manifest["sha256"]


def test_no_file_in_the_zip_mentions_the_checkout_folder(built):
    with zipfile.ZipFile(built) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            assert str(built.parent).encode() not in data and str(ROOT).encode() not in data, name


# Layout

def test_one_top_folder_and_no_path_escapes_it(built):
    with zipfile.ZipFile(built) as zf:
        names = zf.namelist()
    assert {n.split("/")[0] for n in names} == {"deployment_package"}
    assert not [n for n in names if n.startswith("/") or ".." in n.split("/") or "\\" in n]


def test_only_the_runtime_modules_of_mod_ship(built):
    with zipfile.ZipFile(built) as zf:
        names = [n.removeprefix("deployment_package/") for n in zf.namelist()]
    assert sorted(n for n in names if n.startswith("libraries/mod/")) == ["libraries/mod/__init__.py",
                                                                          "libraries/mod/core.py"]
    assert {"deployment.py", "model1.pkl", "model1.json", "input_spec.json", "output_spec.json",
            "libraries/prcvd/specs.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".ipynb"))]


def test_no_environment_file_ships_in_the_deployment_zip(built):
    # UbiOps builds an implicit (deprecated) environment from any of these at the package's top
    with zipfile.ZipFile(built) as zf:
        assert not [n for n in zf.namelist() if n.rsplit("/", 1)[-1] in ENVIRONMENT_FILES]


def test_the_environment_package_carries_the_pins_the_model_was_trained_with(built, unpacked):
    with zipfile.ZipFile(environment_zip(built)) as zf:
        assert zf.namelist() == ["environment_package/requirements.txt"]  # as `ubiops environments deploy` zips it
    pins = {n.lower(): v for n, v in (line.split("==") for line in environment_files(environment_zip(built))["requirements.txt"].split())}
    trained = {n.lower(): v for n, v in json.loads((unpacked / "model1.json").read_text())["versions"].items()}
    assert pins == trained


def test_two_builds_give_the_same_environment_package(checkout):
    first = build(checkout)["environment"]["sha256"]
    assert build(checkout)["environment"]["sha256"] == first == sha256_file(environment_zip(checkout / "deployment_package.zip"))


# Validation: each failure names the file and the fix

def set_requirements(checkout: Path, value: str):
    text = (checkout / "settings.ini").read_text()
    line = next(l for l in text.splitlines() if l.startswith("requirements ="))
    (checkout / "settings.ini").write_text(text.replace(line, f"requirements = {value}"))


@pytest.mark.parametrize("bad, why", [
    ("numpy>=2.4", "not pinned to one version"),
    ("numpy", "not pinned to one version"),
    ("-e .", "editable installs are not allowed"),
    ("git+https://example.invalid/numpy.git", "URLs and VCS references are not allowed"),
    ("./wheels/numpy.whl", "local paths are not allowed"),
])
def test_unpinned_requirements_are_refused(checkout, bad, why):
    set_requirements(checkout, f"{bad} scipy==1.17.1")
    with pytest.raises(PackageError, match="settings.ini `requirements`") as e:
        build(checkout)
    assert why in str(e.value) and "name==version" in str(e.value)


def pins_text(checkout: Path, **changes) -> str:
    "The checkout's own pins (settings.ini), with `changes` (name: version, or None to drop it)."
    pins = {**settings_pins(checkout), **{k.replace("_", "-"): v for k, v in changes.items()}}
    return " ".join(f"{name}=={v}" for name, v in pins.items() if v is not None)


def test_requirements_must_agree_with_the_manifest(checkout):
    set_requirements(checkout, pins_text(checkout, scikit_learn="0.24.2"))
    trained = version("scikit-learn")  # save_model records the running environment's version
    with pytest.raises(PackageError, match=rf"pins scikit-learn==0.24.2, but model1.pkl was trained with "
                                           rf"scikit-learn=={re.escape(trained)} .*pin scikit-learn=={re.escape(trained)}"):
        build(checkout)


def test_a_requirement_the_model_needs_must_be_listed(checkout):
    set_requirements(checkout, pins_text(checkout, scikit_learn=None))
    with pytest.raises(PackageError, match="does not list scikit-learn"):
        build(checkout)


def test_an_invalid_spec_is_refused(checkout):
    (checkout / "input_spec.json").write_text(
        '{"input_type": "structured", "input_fields": [{"name": "portrait", "data_type": "image"}]}')
    with pytest.raises(PackageError, match=r"input_spec.json: input field 'portrait' has data_type 'image'; "
                                           r"allowed: .*Fix input_spec.json at the top of the checkout"):
        build(checkout)


def test_a_model_that_does_not_match_its_manifest_is_refused(checkout):
    pkl = checkout / "deployment_package" / "model1.pkl"
    pkl.write_bytes(pkl.read_bytes() + b"\0")
    with pytest.raises(PackageError, match=r"deployment_package/model1.pkl does not match model1.json.*Restore it"):
        build(checkout)


@pytest.mark.parametrize("path, content, why", [
    (".env", "UBIOPS_API_TOKEN=Token 123", ".env looks like a secret"),
    ("keys/id_rsa", "secret", "keys/id_rsa looks like a secret"),
    ("cert.PEM", "secret", "cert.PEM looks like a secret"),
    ("notes.txt", "-----BEGIN OPENSSH PRIVATE KEY-----\n", "notes.txt holds a private key"),
    ("libraries/extra/__pycache__/x.cpython-311.pyc", "", "libraries/extra/__pycache__/ is a cache"),
    ("stale.pyc", "", "stale.pyc is a cache"),
    ("explore.ipynb", "{}", "explore.ipynb is a notebook"),
    (".ipynb_checkpoints/explore-checkpoint.ipynb", "{}", ".ipynb_checkpoints/ is a notebook"),
    (".git/HEAD", "ref: refs/heads/main", ".git/ is version control"),
])
def test_what_may_not_ship_is_refused_by_name(checkout, path, content, why):
    target = checkout / "deployment_package" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    with pytest.raises(PackageError, match="must not ship") as e:
        build(checkout)
    assert f"deployment_package/{why}" in str(e.value) and ".ubiops-ignore" in str(e.value)


@pytest.mark.parametrize("name", ENVIRONMENT_FILES)
def test_an_environment_file_in_the_package_is_refused(checkout, name):
    (checkout / "deployment_package" / name).write_text("numpy==2.4.6\n")
    with pytest.raises(PackageError, match=f"deployment_package/{name} is an environment file: UbiOps would build an "
                                           f"implicit environment from it .*Pins belong in settings.ini `requirements`"):
        build(checkout)


def test_an_earlier_builds_requirements_txt_is_removed(checkout):
    stale = checkout / "deployment_package" / "requirements.txt"  # what builds before the environment package wrote
    stale.write_text(pinned_requirements(checkout))
    assert "requirements.txt" not in build(checkout)["files"] and not stale.exists()


def test_a_symbolic_link_is_refused(checkout):
    (checkout / "deployment_package" / "data.csv").symlink_to(checkout / "settings.ini")
    with pytest.raises(PackageError, match="data.csv is a symbolic link"):
        build(checkout)


def test_ubiops_ignore_is_honoured(checkout):
    pkg = checkout / "deployment_package"
    (pkg / ".env").write_text("TOKEN=1")
    (pkg / "scratch").mkdir()
    (pkg / "scratch" / "big.bin").write_bytes(b"\0" * 1000)
    (pkg / "keep.txt").write_text("an artefact the deployment reads")
    (pkg / ".ubiops-ignore").write_text("# local only\n.env\nscratch/\n")
    build(checkout)
    with zipfile.ZipFile(checkout / "deployment_package.zip") as zf:
        names = {n.removeprefix("deployment_package/") for n in zf.namelist()}
    assert {".ubiops-ignore", "keep.txt"} <= names and not {".env", "scratch/big.bin"} & names


def test_a_required_file_excluded_by_ubiops_ignore_is_refused(checkout):
    (checkout / "deployment_package" / ".ubiops-ignore").write_text("*.pkl\n")
    with pytest.raises(PackageError, match="deployment_package/model1.pkl is excluded by .ubiops-ignore"):
        build(checkout)


def test_a_package_over_the_size_limit_is_refused(checkout):
    with pytest.raises(PackageError, match=r"deployment_package.zip is [\d,]+ bytes compressed; UbiOps takes at most "
                                           r"10,000\. Make the model smaller"):
        build(checkout, max_bytes=10_000)


def test_a_failed_build_keeps_the_last_good_zip(checkout):
    good = build(checkout)["sha256"]
    (checkout / "deployment_package" / ".env").write_text("TOKEN=1")
    with pytest.raises(PackageError):
        build(checkout)
    assert sha256_file(checkout / "deployment_package.zip") == good
    assert not (checkout / "deployment_package.zip.partial").exists()


@pytest.mark.parametrize("code, why", [
    ("import mod.build.smoke\n", "does not import with the package's own libraries: ModuleNotFoundError: No module named "
                           "'mod.build' (traceback above). If it names a module of mod, add that module to "
                           "RUNTIME_MODULES"),
    ("class Model: pass\n", "defines no class Deployment"),
    ("import sys\nsys.exit(3)\n", "does not import with the package's own libraries: SystemExit: 3"),
    ("class Deployment:\n def __init__(self, folder): pass\n def request(self, data): pass\n",
     "Deployment(folder) must accept (base_directory, context)"),
    ("class Deployment:\n def __init__(self, base_directory, context): pass\n",
     "Deployment has no request(self, data) method"),
    ("class Deployment:\n def __init__(self, base_directory, context): pass\n"
     " def request(self, data, request_context): pass\n",
     "Deployment.request(self, data, request_context) must be request(self, data) or request(self, data, context)"),
])
def test_deployment_py_must_import_and_keep_the_contract(checkout, code, why):
    (checkout / "deployment_package" / "deployment.py").write_text(code)
    with pytest.raises(PackageError, match="deployment_package/deployment.py") as e:
        build(checkout)
    assert why in str(e.value)


@pytest.mark.parametrize("code", [
    "class Deployment:\n def __init__(self, base_directory, context): pass\n def request(self, data): pass\n",
    "class Deployment:\n def __init__(self, base_directory, context=None, **kw): pass\n def request(self, data, context): pass\n",
])
def test_deployment_py_contract_variants_that_ubiops_accepts(tmp_path, code):
    (tmp_path / "deployment.py").write_text(code)
    check_deployment(tmp_path)


# Smoke: the built zip, run as UbiOps runs it

def test_smoke_replays_the_golden_examples_of_the_built_zip(built, unpacked):
    examples = json.loads((unpacked / "model1.json").read_text())["examples"]
    assert smoke(built) == {ex["name"]: ex["answer"] for ex in examples}


def test_smoke_sees_only_what_the_zip_carries(unpacked, tmp_path):
    # prcvd is importable here (editable install), but a package without it must fail as it would on UbiOps.
    pkg = tmp_path / "deployment_package"
    shutil.copytree(unpacked, pkg, ignore=shutil.ignore_patterns("prcvd"))
    write_zip(pkg, package_files(pkg), tmp_path / "no-prcvd.zip")
    with pytest.raises(SmokeError, match="(?s)Importing deployment.py failed.*No module named 'prcvd'"):
        smoke(tmp_path / "no-prcvd.zip")


def test_an_error_in_init_is_reported_as_ubiops_would(tmp_path, capfd):
    with pytest.raises(SmokeError) as e:
        smoke(fixture_zip("raises_in_init", tmp_path))
    assert str(e.value).startswith(f'Deployment.__init__ failed. UbiOps would report: "{GENERIC_ERROR}"')
    assert str(e.value).endswith("RuntimeError: weights server unreachable")
    err = capfd.readouterr().err
    assert "Traceback" in err and "in __init__" in err


def test_an_error_in_request_is_reported_with_its_public_message(tmp_path):
    with pytest.raises(SmokeError, match='Deployment.request failed. UbiOps would report: "The portrait is too '
                                         'dark to find a face."'):
        smoke(fixture_zip("public_error", tmp_path))


def test_an_answer_that_breaks_the_output_spec_is_reported(tmp_path):
    with pytest.raises(SmokeError, match="not as output_spec.json declares: Output field 'label' must be a string"):
        smoke(fixture_zip("wrong_output", tmp_path))


@pytest.mark.parametrize("name, message", [
    ("raises_in_init", "Deployment.__init__ failed. UbiOps would report"),
    ("raises_in_request", f'Deployment.request failed. UbiOps would report: "{GENERIC_ERROR}"'),
])
def test_mod_smoke_exits_non_zero_with_the_message_and_the_traceback(tmp_path, name, message):
    proc = subprocess.run([MOD, "smoke", "--package", fixture_zip(name, tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"mod smoke: {message}" in proc.stderr and "Traceback (most recent call last)" in proc.stderr


# Parity with UbiOps' own runner

RUN_LOCAL = """
import json, os, sys
# Hide this checkout's editable install, as the smoke runner does, so run_local imports the package's libraries.
own = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
sys.path[:] = [p for p in sys.path if any(os.path.commonpath([os.path.realpath(p), o]) == o for o in own)]
from ubiops.utils import run_local
try:
    out = {"ok": True, "result": run_local(sys.argv[1], json.loads(sys.argv[2]))}
except Exception as e:
    out = {"ok": False, "error": str(e)}
with open(sys.argv[3], "w") as f:
    json.dump(out, f)
"""


def run_local(package_dir: Path, data: dict, tmp_path: Path) -> dict:
    "ubiops.utils.run_local on `package_dir`, unchanged, in a process of its own (it changes sys.path and sys.modules)."
    out = tmp_path / "run_local.json"
    subprocess.run([sys.executable, "-I", "-B", "-c", RUN_LOCAL, str(package_dir), json.dumps(data), str(out)],
                   cwd=tmp_path, check=True, capture_output=True)
    return json.loads(out.read_text())


def test_run_local_gives_the_same_answer_as_smoke(built, unpacked, tmp_path, pictures):
    # run_local uses the interpreter it runs in: the parity means something only with the environment's own pins
    pins = check_requirements(environment_files(environment_zip(built))["requirements.txt"])
    assert {name: version(name) for name in pins} == pins
    ours = smoke(built, pictures["astronaut"])["request"]
    theirs = run_local(unpacked, {"portrait": str(pictures["astronaut"])}, tmp_path)
    assert theirs == {"ok": True, "result": ours}


@pytest.mark.parametrize("name", ["public_error", "raises_in_request"])
def test_run_local_reports_the_same_error_as_smoke(tmp_path, name, pictures):
    pkg = unpack_package(fixture_zip(name, tmp_path), tmp_path / "unpacked")
    data = {"portrait": str(pictures["astronaut"])}
    ours = run_package(pkg, {"mode": "request", "data": data, "init_context": {}, "request_context": {}}, capture=True)
    assert run_local(pkg, data, tmp_path) == {"ok": False, "error": ours["error"]}


# Isolation: a fresh venv from the package's requirements.txt only

def test_isolated_run_catches_a_package_missing_from_requirements(tmp_path):
    package = fixture_zip("imports_yaml", tmp_path, requirements="# PyYAML is missing on purpose\n")
    assert smoke(package)["sample"]["label"] == "no_face"  # PyYAML is installed here ...
    with pytest.raises(SmokeError, match="No module named 'yaml'"):  # ... but not in a venv of the environment's pins
        smoke(package, isolated=True)


def test_isolated_run_needs_the_environment_package(tmp_path):
    package = fixture_zip("imports_yaml", tmp_path)
    environment_zip(package).unlink()
    with pytest.raises(SmokeError, match="environment_package.zip not found: an isolated run installs the pins"):
        smoke(package, isolated=True)


def test_smoke_passes_the_contexts_ubiops_passes():
    spec = Spec.load(PORTRAIT / "input_spec.json", "input"), Spec.load(PORTRAIT / "output_spec.json", "output")
    c = contexts(*spec)
    assert c["request_context"]["request_mode"] == "express"  # "express" or "batch" on UbiOps, never "direct"
    assert c["init_context"]["process_id"] == 0 and c["init_context"]["input_fields"] == ["portrait"]


@pytest.mark.network
def test_isolated_run_of_the_built_zip_installs_its_pins_from_pypi(built):
    assert smoke(built, isolated=True) == smoke(built)


def test_an_exported_notebook_edit_shows_in_mod_package(checkout):
    build(checkout)
    nb_path = checkout / "nbs" / "00_core.ipynb"
    nb_path.parent.mkdir()
    nb = json.loads((ROOT / "nbs" / "00_core.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["source"] and c["source"][0].startswith("#| export"))
    cell["source"].append("\n# an edit in the notebook\n")
    nb_path.write_text(json.dumps(nb))
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "nbdev_export", "--path", nb_path], cwd=checkout, check=True)
    proc = subprocess.run([MOD, "package", "--root", checkout], capture_output=True, text=True, check=True)
    assert "changed since the last build: ~libraries/mod/core.py\n" in proc.stdout
    assert f"sha256 {sha256_file(checkout / 'deployment_package.zip')}" in proc.stdout


def test_the_sealed_checks_run_again_only_when_something_they_depend_on_changed(checkout):
    assert build(checkout)["checks"] == "run"
    assert build(checkout)["checks"] == "unchanged"  # same files, Python and libraries: same outcome
    with open(checkout / "libraries" / "prcvd" / "__init__.py", "a") as f:
        f.write("# changed\n")
    assert build(checkout)["checks"] == "run"
    (checkout / "deployment_package.build.json").unlink()  # no record of a passed check: run them
    assert build(checkout)["checks"] == "run"
