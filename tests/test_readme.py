"""The README's commands, run as written in a fresh copy of the checkout: the README cannot drift from what works.

Two roads: the quickstart with the demo (serve, a request, the offline rehearsal of a deploy), and bringing your own
model (a logistic regression, an extra input and output field; `make export smoke test`, `make serve`, `make deploy`).

Each ```bash block after a `<!-- readme-test: NAME -->` comment is a step; `(background)` steps are servers, left
running until their port answers. Two things differ from a user's shell, both said here: the port (a free one
instead of 8000, through `make serve`'s `PORT`), and the quickstart's `make test` line, which is this very run.
The copy holds what a clone of this checkout holds (tracked and untracked files, not the ignored ones: no .venv, no
model, no serve-data), so `make package` builds its own .venv and trains the demo model, as on a new machine.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The walkthrough runs `make test` in its copy, which would run this file again: that inner run skips it.
WALKTHROUGH = "MOD_README_WALKTHROUGH"
pytestmark = pytest.mark.skipif(os.environ.get(WALKTHROUGH) == "1", reason="this run is the walkthrough's own make test")
MARK = re.compile(r"<!-- readme-test: ([\w-]+)( \(background\))? -->\n```bash\n(.*?)```", re.S)


def readme_steps(text: str) -> dict:
    "`{name: (commands, background)}` for every marked block of the README."
    return {m[1]: (m[3], bool(m[2])) for m in MARK.finditer(text)}


def test_readme_marks_the_blocks_this_test_runs():
    steps = readme_steps((ROOT / "README.md").read_text())
    assert {"quickstart", "serve", "request", "rehearsal-serve", "rehearsal", "byom-save", "byom-check",
            "byom-request"} <= set(steps)
    assert steps["serve"][1] and not steps["request"][1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_copy(dst: Path) -> Path:
    "What a clone of this checkout holds, copied to `dst`."
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst / rel)
    return dst


def user_env(port: int) -> dict:
    "A user's shell: no virtualenv of this run on PATH, no PYTHONPATH; the free port for `make serve`."
    keep = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKEFLAGS",
                                                              "MFLAGS", "MAKELEVEL", "PYTEST_CURRENT_TEST")}
    keep["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                   if not p.startswith(str(ROOT / ".venv")))
    return keep | {"PORT": str(port)}


class Shell:
    "Runs README blocks in one folder, as bash does with `set -e`; servers in their own process groups."

    def __init__(self, cwd: Path, port: int):
        self.cwd, self.port, self.env, self.servers = cwd, port, user_env(port), []

    def _script(self, commands: str) -> str:
        return "set -euo pipefail\n" + commands.replace("8000", str(self.port))

    def run(self, commands: str, timeout: float = 900) -> str:
        p = subprocess.run(["bash", "-c", self._script(commands)], cwd=self.cwd, env=self.env, text=True,
                           capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, f"README block failed ({p.returncode}):\n{commands}\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}"
        return p.stdout

    def start(self, commands: str, timeout: float = 600):
        "Start a server block; return once its API answers (bounded), fail with its output if it ends first."
        log = open(self.cwd / f"server-{len(self.servers)}.log", "w+")
        proc = subprocess.Popen(["bash", "-c", self._script(commands)], cwd=self.cwd, env=self.env, text=True,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.servers.append((proc, log))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the server block ended ({proc.returncode}):\n{commands}\n{self._log(log)}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v2/status", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        pytest.fail(f"the server did not answer within {timeout:g} s:\n{self._log(log)}")

    @staticmethod
    def _log(log) -> str:
        log.seek(0)
        return log.read()[-5000:]

    def stop(self):
        "Ctrl-C for every server (its whole process group), as a user stops `make serve`; kill after 60 s."
        for proc, log in self.servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            log.close()
        self.servers.clear()


@pytest.fixture
def shell(tmp_path):
    sh = Shell(fresh_copy(tmp_path / "checkout"), free_port())
    yield sh
    sh.stop()


def last_json(output: str):
    "The JSON value that ends `output` (curl's answers come without a newline; `mod predict` prints it indented)."
    output, decoder = output.rstrip(), json.JSONDecoder()
    for start in (i for i, ch in enumerate(output) if ch == "{"):
        try:
            value, end = decoder.raw_decode(output, start)
        except ValueError:
            continue
        if end == len(output):
            return value
    pytest.fail(f"no JSON at the end of the output:\n{output}")


def test_the_readme_road_in_a_fresh_copy(shell):
    steps = readme_steps((ROOT / "README.md").read_text())
    quickstart = "\n".join(line for line in steps["quickstart"][0].splitlines() if not line.startswith("make test"))
    shell.run(quickstart)
    assert (shell.cwd / "deployment_package.zip").is_file()

    shell.start(steps["serve"][0])
    answer = last_json(shell.run(steps["request"][0], timeout=120))
    assert answer["status"] == "completed", answer
    assert answer["result"]["face_found"] is True, answer
    shell.stop()

    shell.port = free_port()
    shell.env["PORT"] = str(shell.port)
    shell.start(steps["rehearsal-serve"][0])
    out = shell.run(steps["rehearsal"][0], timeout=600)
    assert last_json(out).get("face_found") is True, out
    assert (shell.cwd / "serve-data").is_dir() and (shell.cwd / "serve-rehearsal").is_dir()  # the default folders


def bring_your_own_interface(root: Path):
    """Step 1 of "Bring your own model", as a user does it by hand: a `threshold` (double) in both specs, used by
    `Deployment.request` in nbs/00_core.ipynb and sent by the notebook's examples."""
    for name, key in (("input_spec.json", "input_fields"), ("output_spec.json", "output_fields")):
        spec = json.loads((root / name).read_text())
        spec[key].append({"name": "threshold", "data_type": "double"})
        (root / name).write_text(json.dumps(spec, indent=2) + "\n")
    path = root / "nbs" / "00_core.ipynb"
    nb = json.loads(path.read_text())
    edits = {"self.score, self.threshold, **self.search)": 'self.score, data["threshold"], **self.search)',
             "return self.output_spec.check(self._result(found))":
                 'return self.output_spec.check({**self._result(found), "threshold": data["threshold"]})'}
    done = set()
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        for old, new in edits.items():
            if old in text:
                text, _ = text.replace(old, new), done.add(old)
        text, n = re.subn(r'\{"(portrait|image)": (str\(tmp / "\w+\.\w+"\))\}', r'{"\1": \2, "threshold": 0.5}', text)
        done |= {"examples"} if n else set()
        cell["source"] = text.splitlines(keepends=True)
    assert done == set(edits) | {"examples"}, f"00_core changed: the walkthrough's edits found only {done}"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def test_bring_your_own_model_in_a_fresh_copy(shell):
    steps = readme_steps((ROOT / "README.md").read_text())
    shell.env[WALKTHROUGH] = "1"
    bring_your_own_interface(shell.cwd)
    shell.run("make export")
    shell.run(steps["byom-save"][0])
    assert json.loads((shell.cwd / "deployment_package" / "model1.json").read_text())["trained_by"] == "me"
    out = shell.run(steps["byom-check"][0], timeout=3600)  # its make test is the whole suite, on the user's model
    assert " passed" in out and out.rstrip().endswith("Success."), out[-3000:]  # pytest, then nbdev_test

    shell.start(steps["serve"][0])
    answer = last_json(shell.run(steps["byom-request"][0], timeout=120))
    assert answer["threshold"] == 0.4 and answer["face_found"] is True, answer
    shell.stop()

    shell.port = free_port()
    shell.env["PORT"] = str(shell.port)
    shell.start(steps["rehearsal-serve"][0])
    deploy = "\n".join(line for line in steps["rehearsal"][0].splitlines() if "mod predict" not in line)
    out = shell.run(deploy, timeout=600)  # the rehearsal's deploy; its one-image predict fits the demo's interface
    assert "golden example(s), each answered as when the model was saved" in out, out[-3000:]
