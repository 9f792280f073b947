"""Bad inputs and faults, as a new user meets them: each row of docs/robustness.md has its test here
(or names the test elsewhere that covers it). Every error is an EmbeddingError subclass whose message
says what to do; nothing the user made is deleted; no old verdict survives a new run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from modelprep import export
from modelprep.assets import checkpoint_dir, ensure_artifacts
from modelprep.reference import Reference
from runtime.artifact import read_record, sha256_file
from runtime.embedder import Embedder
from runtime.errors import (
    ConfigError,
    EmbeddingError,
    EmptyTextError,
    ExportError,
    ManifestError,
    ModelFileError,
    TextTypeError,
)
from runtime.manifest import load_manifest
from runtime.pool import pool
from runtime.session import TensorRTOptions

ROOT = Path(__file__).resolve().parent.parent

MINILM_TOML = """\
id = "{id}"
name = "sentence-transformers/all-MiniLM-L6-v2"
dimension = 384
pooling = "mean"
padding_side = "right"
max_length = {max_length}
{extra}
[files]
dir = "{dir}"
{files}
[source]
kind = "hf"
checkpoint = "nobody/not-on-this-machine"
"""


def write_manifest(path: Path, directory: Path, *, extra: str = "", files: str = "", max_length: int = 256,
                   model_id: str = "user-minilm") -> Path:
    path.write_text(MINILM_TOML.format(id=model_id, dir=directory, extra=extra, files=files, max_length=max_length))
    return path


def tree(directory: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def minilm_copy(minilm, tmp_path) -> Path:
    """A copy of the built MiniLM artifacts (graph, tokenizer, config, artifact.json)."""
    target = tmp_path / "minilm"
    shutil.copytree(minilm.manifest.artifact_dir, target)
    return target


# ---------------------------------------------------------------- texts

@pytest.mark.parametrize("text", ["\u200b", "\x00", "\ufeff", "\u2060", "\u00ad", "\u200b\u200d\u2060 \x00"],
                         ids=["zero-width-space", "nul", "bom", "word-joiner", "soft-hyphen", "mixed"])
def test_invisible_only_text_is_rejected_naming_the_item(minilm, text):
    with pytest.raises(EmptyTextError, match="item 1 holds only invisible characters"):
        minilm.encode(["a real text", text])


def test_lone_surrogate_is_a_text_type_error(minilm):
    with pytest.raises(TextTypeError, match="item 0 is not valid Unicode: a lone surrogate"):
        minilm.encode(["\ud800"])


def test_non_list_input_is_a_text_type_error(minilm):
    with pytest.raises(TextTypeError, match="takes a list of str, got int"):
        minilm.encode(5)


def test_huge_texts_cost_memory_of_their_truncated_size(minilm):
    """50 texts of 1 MB: peak RSS grows by far less than tokenizing them whole would need (+1.9 GB)."""
    script = textwrap.dedent("""
        import resource
        from runtime.embedder import Embedder
        emb = Embedder.load("all-minilm-l6-v2")
        emb.encode(["warm up"])
        texts = [("lorem ipsum dolor sit amet " * 40_000)[: 1 << 20] + str(i) for i in range(50)]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        vectors = emb.encode(texts)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert vectors.shape == (50, 384)
        print((after - before) / 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 400


def test_cutting_a_long_text_before_tokenizing_keeps_the_truncated_tokens(minilm, qwen_tiny):
    texts = [("word " * 5000) + "end", "x" * 30_000 + " tail", "数据" * 20_000, ("a\u00a0b " * 9000)]
    for emb in (minilm, qwen_tiny):
        whole = [emb.tokenizer.encode_text(t).ids for t in texts]
        assert [e.ids for e in emb.tokenizer.encode(texts)] == whole


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"batch_size": 0}, "batch_size must be a whole number of at least 1"),
     ({"dim": 0}, r"Matryoshka dim 0 is outside 16..64"),
     ({"max_batch_tokens": 0}, "max_batch_tokens must be a positive whole number")],
)
def test_bad_embedder_arguments_fail_at_construction(qwen_tiny, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Embedder.load(qwen_tiny.manifest, **kwargs)


def test_matryoshka_dim_on_a_model_without_matryoshka_is_refused(minilm):
    with pytest.raises(ConfigError, match="declares no matryoshka_min_dim"):
        Embedder.load(minilm.manifest, dim=128)


def test_bad_batch_size_per_call_is_a_config_error(minilm):
    with pytest.raises(ConfigError, match="batch_size must be"):
        minilm.encode(["x"], batch_size=0)


def test_errors_leaving_the_runtime_are_embedding_errors():
    with pytest.raises(EmbeddingError, match="unknown pooling 'max'"):
        pool("max", np.zeros((1, 2, 3), np.float32), np.ones((1, 2), np.int64))
    with pytest.raises(EmbeddingError, match="builder_optimization_level must be within 0-5"):
        TensorRTOptions(builder_optimization_level=9).to_ort()


# ---------------------------------------------------------------- manifests

@pytest.mark.parametrize(
    ("extra", "message"),
    [("normalise = false", "unknown key 'normalise'; did you mean 'normalize'"),
     ('normalize = "no"', "'normalize' must be a boolean"),
     ('precision = "fp12"', "precision is 'fp12': use one of fp32, fp16, bf16, int8, fp8"),
     ("trained = 1", "'trained' must be a boolean")],
)
def test_manifest_typos_and_types_are_errors(tmp_path, extra, message):
    path = write_manifest(tmp_path / "m.toml", tmp_path, extra=extra)
    with pytest.raises(ManifestError, match=re.escape(message)):
        load_manifest(path)


def test_manifest_invalid_toml(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('id = "x"\ndimension = = 3\n')
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(path)


def test_manifest_max_length_above_the_position_limit(minilm_copy, tmp_path):
    manifest = load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy, max_length=4096))
    with pytest.raises(ManifestError, match="max_length = 4096 but the model has 512 positions"):
        Embedder.load(manifest)


def test_manifest_onnx_sha256_is_checked(minilm_copy, tmp_path):
    wrong = "0" * 64
    manifest = load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy, files=f'onnx_sha256 = "{wrong}"'))
    with pytest.raises(ModelFileError, match=f"sha256 {sha256_file(minilm_copy / 'model.onnx')} but the "
                                             f"manifest's files.onnx_sha256 says {wrong}"):
        Embedder.load(manifest)
    right = sha256_file(minilm_copy / "model.onnx")
    good = load_manifest(write_manifest(tmp_path / "g.toml", minilm_copy, files=f'onnx_sha256 = "{right}"'))
    assert "the manifest's files.onnx_sha256" in Embedder.load(good).identity.checked_against


# ---------------------------------------------------------------- model files

def test_flipped_bytes_in_a_cached_model_are_refused_at_load(minilm_copy, tmp_path):
    manifest = load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy))
    assert Embedder.load(manifest).identity.onnx_sha256 == read_record(minilm_copy)["onnx_sha256"]
    path = minilm_copy / "model.onnx"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="model.onnx has sha256 .* but .*artifact.json says"):
        Embedder.load(manifest)


def test_flipped_bytes_with_the_mtime_put_back_are_still_refused(minilm_copy, tmp_path):
    """The hash memo must not be fooled by a file changed in place whose mtime was restored (touch -r)."""
    manifest = load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy))
    Embedder.load(manifest)  # remembered now
    path = minilm_copy / "model.onnx"
    stat = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(stat.st_size // 2)
        block = fh.read(64)
        fh.seek(stat.st_size // 2)
        fh.write(bytes(b ^ 0xFF for b in block))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size
    with pytest.raises(ModelFileError, match="model.onnx has sha256 .* but .*artifact.json says"):
        Embedder.load(manifest)


def test_a_truncated_copy_is_refused(minilm_copy, tmp_path):
    path = minilm_copy / "model.onnx"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="not the one that was exported and gated"):
        Embedder.load(load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy)))


def test_unchanged_files_are_not_rehashed(minilm_copy, tmp_path):
    manifest = load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy))
    Embedder.load(manifest)
    how = Embedder.load(manifest).identity.verification["model.onnx"]
    assert how.startswith("hash remembered for this file's inode, size, mtime and ctime")


def test_corrupt_artifact_record(minilm_copy, tmp_path):
    (minilm_copy / "artifact.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="artifact.json is not valid JSON"):
        Embedder.load(load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy)))


# ---------------------------------------------------------------- tokenizers

def test_a_foreign_tokenizer_is_refused_both_ways(minilm_copy, qwen_tiny, minilm, tmp_path):
    shutil.copy(qwen_tiny.manifest.tokenizer_path, minilm_copy / "tokenizer.json")
    with pytest.raises(ModelFileError, match="tokenizer.json has sha256 .* tokenizer_sha256 says"):
        Embedder.load(load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy)))
    qwen_copy = tmp_path / "qwen"
    shutil.copytree(qwen_tiny.manifest.artifact_dir, qwen_copy)
    shutil.copy(minilm.manifest.tokenizer_path, qwen_copy / "tokenizer.json")
    with pytest.raises(ModelFileError, match="tokenizer"):
        Embedder.load(replace(qwen_tiny.manifest, artifact_dir=qwen_copy))


def test_a_foreign_tokenizer_without_a_record_is_caught_by_the_special_tokens(minilm_copy, tmp_path):
    """No artifact.json to compare with: the exported config's special-token ids must be special
    tokens of the tokenizer. MiniLM's graph with a tokenizer that has no special token at id 0 fails."""
    (minilm_copy / "artifact.json").unlink()
    tok = json.loads((minilm_copy / "tokenizer.json").read_text())
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["id"] != 0]  # [PAD] no longer special
    (minilm_copy / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ModelFileError, match="no special token at id 0, the model's pad_token_id"):
        Embedder.load(load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy)))


# ---------------------------------------------------------------- the artifact cache never deletes user files

def test_cli_export_is_never_deleted_by_a_manifest_that_cannot_rebuild_it(tmp_path):
    """The reproducer: export with the CLI, then load a manifest whose [files] dir is that export and
    whose [source] is a hub id not on this machine. The export used to be judged stale and deleted."""
    out = tmp_path / "X"
    checkpoint = checkpoint_dir(load_manifest("all-minilm-l6-v2"))
    assert export.main(["--model", "all-minilm-l6-v2", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    record = read_record(out)
    assert record["cache_entry"] is False and record["recipe"] and record["tokenizer_sha256"]
    before = tree(out)
    manifest = load_manifest(write_manifest(tmp_path / "m.toml", out))
    ensure_artifacts(manifest)
    assert Embedder.load(manifest).encode(["still here"]).shape == (1, 384)
    with pytest.raises(ModelFileError, match="never rebuilt or replaced here"):
        ensure_artifacts(manifest, rebuild=True)
    assert tree(out) == before
    # and the CLI itself refuses to export over it
    assert export.main(["--model", str(tmp_path / "m.toml"), "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
    assert tree(out) == before


def test_a_user_directory_missing_a_file_is_left_alone(minilm_copy, tmp_path):
    (minilm_copy / "tokenizer.json").unlink()
    (minilm_copy / "artifact.json").unlink()
    before = tree(minilm_copy)
    with pytest.raises(ModelFileError, match="lacks tokenizer.json and was not made by this suite's model cache"):
        ensure_artifacts(load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy)))
    assert tree(minilm_copy) == before


def test_a_failed_rebuild_of_a_stale_cache_entry_keeps_the_old_one(minilm_copy, tmp_path):
    record = read_record(minilm_copy) | {"cache_entry": True, "recipe": {"kind": "hf", "checkpoint": "an/older-one"}}
    (minilm_copy / "artifact.json").write_text(json.dumps(record))
    before = tree(minilm_copy)
    manifest = load_manifest(write_manifest(tmp_path / "m.toml", minilm_copy))
    with pytest.raises(ExportError, match="earlier artifacts there are kept"):
        ensure_artifacts(manifest)
    assert tree(minilm_copy) == before
    assert not [p for p in tmp_path.iterdir() if ".building." in p.name], "the temporary build was left behind"


def test_two_processes_building_one_cache_entry(tmp_path):
    script = ("from modelprep.assets import ensure_artifacts; from runtime.embedder import Embedder; "
              "from runtime.manifest import load_manifest; m = load_manifest('qwen3-tiny'); ensure_artifacts(m); "
              "print(Embedder.load(m).encode(['x']).shape)")
    env = os.environ | {"EMBED_SIGNOFF_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for _, e in outputs]
    assert all("(1, 64)" in out for out, _ in outputs)
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock"))
    assert entries == ["checkpoints", "qwen3-tiny", "verified"], entries


def test_export_cli_prints_one_line_not_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "modelprep.export", "--model", "all-minilm-l6-v2", "--checkpoint",
                           str(tmp_path / "no-such-checkpoint"), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: the export failed"), done.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_export_cli_unknown_model(tmp_path):
    done = subprocess.run([sys.executable, "-m", "modelprep.export", "--model", "all-minilm-l6-v3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no model manifest" in done.stderr and "all-minilm-l6-v2" in done.stderr


def test_reference_never_reaches_a_hub(minilm):
    reference = Reference(minilm.manifest, "nobody/not-on-this-machine")
    with pytest.raises(ModelFileError, match="not on this machine \\(nothing is fetched from a hub\\)"):
        reference.encode(["x"])


# ---------------------------------------------------------------- profiles, options and runs

def run_suite(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "--reports-dir", str(reports), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )
    return done, reports


#: The meta-tests' profile: parity at one batch size. These runs are about the run record, not thresholds.
META = ("--accept-profile", str(ROOT / "tests" / "meta-profile.toml"))


def profile_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [("[profile]\nextend = \"cpu-default\"\n", "unknown key 'extend'; did you mean 'extends'"),
     ("[profile]\nextends = \"cpu-default\"\n[[criteria]]\nid = \"norm.max_deviation\"\ntitle = \"t\"\n"
      "prd_ref = \"r\"\ncomparator = \"<\"\ntarget = \"0.001\"\nunit = \"\"\n", "'target' must be a number"),
     ("[profile]\nextends = \"profile.toml\"\n", "'extends' forms a cycle"),
     ("[profile\nname = 1\n", "not valid TOML"),
     ("[profile]\nextends = \"cpu-default\"\n[[criteria]]\nid = \"latency.p95_ms.batch1\"\ntitle = \"t\"\n"
      "prd_ref = \"r\"\ncomparator = \"<\"\ntarget = 1\nunit = \"ms\"\n",
      "no acceptance test measures latency.p95_ms.batch1"),
     ("[profile]\nextends = \"cpu-default\"\ndrop = [\"norm.max_deviaton\"]\n", "did you mean 'norm.max_deviation'"),
     ("[profile]\nextends = \"cpu-default\"\n[measurement]\nloadgen_queris = 3\n", "did you mean 'loadgen_queries'"),
     ("[profile]\nextends = \"cpu-default\"\n[regression]\nlatncy = { max_pct = 10 }\n", "did you mean 'latency'"),
     ("[profile]\nextends = \"cpu-default\"\n[regression]\nlatency = { max_pct = 10, max_abs = 5 }\n",
      "needs exactly one of max_pct or max_abs")],
    ids=["extend-typo", "target-string", "extends-cycle", "invalid-toml", "unmeasured-criterion", "drop-typo",
         "measurement-typo", "regression-typo", "regression-two-allowances"],
)
def test_bad_profiles_are_usage_errors(tmp_path, body, message):
    done, reports = run_suite(tmp_path, "--accept-profile", str(profile_file(tmp_path, body)), "-m", "norm",
                              "--require-signoff")
    assert done.returncode == 4, done.stdout[-1500:] + done.stderr[-1500:]
    assert message in done.stderr and "Traceback" not in done.stderr and "INTERNALERROR" not in done.stderr
    assert not (reports / "signoff.json").exists()


def test_unknown_fault_is_a_usage_error_at_start(tmp_path):
    done, reports = run_suite(tmp_path, "-m", "norm", "--inject-fault", "slep:10")
    assert done.returncode == 4 and "unknown fault 'slep'" in done.stderr, done.stderr[-1500:]
    assert not (reports / "signoff.json").exists()


def test_a_run_that_stops_at_start_leaves_no_old_verdict(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    old = {"verdict": "signed-off", "run": {"run_id": "an-old-run"}}
    (reports / "signoff.json").write_text(json.dumps(old))
    (reports / "signoff.md").write_text("# old: SIGNED OFF")
    done, _ = run_suite(tmp_path, "-m", "norm", "--accept-profile", "no-such-profile")
    assert done.returncode == 4
    assert not (reports / "signoff.json").exists() and not (reports / "signoff.md").exists()
    assert json.loads((reports / "history" / "an-old-run" / "signoff.json").read_text()) == old  # kept, not deleted


def test_an_interrupted_run_says_so_and_does_not_sign_off(tmp_path):
    (tmp_path / "interrupter.py").write_text(textwrap.dedent("""
        def pytest_runtest_teardown(item):
            if item.name == "test_norm_max_deviation":
                raise KeyboardInterrupt
    """))
    env = os.environ | {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done, reports = run_suite(tmp_path, "-m", "norm or retrieval", "-p", "interrupter", *META, env=env)
    assert done.returncode == 2, done.stdout[-2000:]
    signoff = json.loads((reports / "signoff.json").read_text())
    assert signoff["run"]["ended"] == "interrupted" and signoff["verdict"] == "not-signed-off"
    by_id = {c["id"]: c for c in signoff["criteria"]}
    assert by_id["retrieval.recall_at_10"]["reason"] == "the run was interrupted before this criterion was measured"
    assert "This run was INTERRUPTED" in (reports / "signoff.md").read_text()
    assert "NOT SIGNED OFF (the run was INTERRUPTED)" in done.stdout


def test_signoff_json_says_what_was_tested_and_by_which_run(tmp_path):
    done, reports = run_suite(tmp_path, "-m", "norm", "-k", "deviation", *META,
                              env=os.environ | {"EMBED_SIGNOFF_INVOCATION": "inv-1"})
    signoff = json.loads((reports / "signoff.json").read_text())
    run, model = signoff["run"], signoff["model"]
    assert run["ended"] == "completed" and run["exit_status"] == done.returncode == 0
    assert run["selection"]["markexpr"] == "norm" and run["selection"]["keyword"] == "deviation"
    assert run["invocation"] == "inv-1" and run["run_id"] and run["started_at"] <= run["ended_at"]
    assert re.fullmatch(r"[0-9a-f]{40}", run["suite"]["commit"]) or run["suite"]["commit"].startswith("not a git")
    assert model["onnx_sha256"] == sha256_file(model["onnx"])  # the file really loaded, hashed
    assert model["tokenizer_sha256"] == sha256_file(model["tokenizer"])


# ---------------------------------------------------------------- the table itself

def test_every_row_of_the_robustness_table_has_a_test():
    doc = (ROOT / "docs" / "robustness.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| ") and not line.startswith("| #")
            and not line.startswith("| ---")]
    assert len(rows) >= 30
    for row in rows:
        refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row)
        assert refs, f"row without a test: {row}"
        for path, name in refs:
            assert re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M), f"{path}::{name}"
