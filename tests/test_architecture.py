"""The shape of the project holds: the serving runtime is the thin thing one copies to a device,
packages are layered without circles (import-linter), and artifact.json has one owner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Third-party top-level modules the serving runtime may load (and what they load themselves).
RUNTIME_MAY_LOAD = {"numpy", "tokenizers", "onnxruntime", "runtime", "embed_signoff_fixtures", "fixtures",
                    "coloredlogs", "humanfriendly", "flatbuffers", "packaging", "google", "sympy", "mpmath",
                    "ml_dtypes", "_distutils_hack"}
HEAVY = ("torch", "transformers", "optimum", "onnx", "sentence_transformers", "acceptance", "modelprep")

ENCODE_AND_LIST_MODULES = textwrap.dedent("""
    import json, sys
    from runtime.embedder import Embedder
    from runtime.manifest import load_manifest
    import runtime.tensorrt, runtime.session, runtime.artifact
    emb = Embedder.load(load_manifest("all-minilm-l6-v2"))
    vectors = emb.encode(["a text to embed", "another one"])
    assert vectors.shape == (2, 384), vectors.shape
    top = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names) - {"__main__"}
                 - {m for m in sys.modules if m.startswith("__editable__")})
    print(json.dumps({"modules": top, "runtime": __import__("runtime").__file__}))
""")


def test_runtime_encodes_without_torch_transformers_or_optimum(minilm):
    done = subprocess.run([sys.executable, "-c", ENCODE_AND_LIST_MODULES], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(json.loads(done.stdout.splitlines()[-1])["modules"])
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert modules <= RUNTIME_MAY_LOAD, sorted(modules - RUNTIME_MAY_LOAD)


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_plain_pip_install_serves_a_model(minilm, tmp_path):
    """`pip install .` with no extras, in a fresh virtualenv, run from outside the checkout: the built-in
    manifests ship as package data and a model whose files exist is embedded."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
    done = subprocess.run([str(python), "-c", ENCODE_AND_LIST_MODULES], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert str(env_dir) in result["runtime"], "the checkout was imported, not the installed package"
    assert not set(result["modules"]) & set(HEAVY)
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True).stdout.lower()
    for heavy in ("torch", "transformers", "optimum", "onnx=="):
        assert not re.search(rf"^{re.escape(heavy)}", freeze, re.M), f"{heavy} was installed by a plain install"


def test_artifact_record_has_one_owner():
    owners = [p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/*.py")
              if p.parts[-2] in ("runtime", "modelprep", "acceptance") and '"artifact.json"' in p.read_text()]
    assert owners == ["runtime/artifact.py"], owners
