"""Bundles resolved on the host for a board's platform, with pip's real resolver against PyPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeq.boards.catalog import load_board
from edgeq.bundle.build import LITERT, TFLITE_RUNTIME, Platform, build_bundle, plan_requirements
from edgeq.model.reader import inspect_model

from .conftest import Board, run_cli, write_board

BOOKWORM_ARM64 = {"arch": "aarch64", "python": {"version": "3.11.2"}, "glibc": "2.36", "numpy": "1.24.2",
                  "runtimes": {}}
# Raspberry Pi OS 13 / Debian 13, as the emulated trixie board reports itself.
TRIXIE_ARM64 = {"arch": "aarch64", "python": {"version": "3.13.5"}, "glibc": "2.41", "numpy": "2.2.4",
                "runtimes": {}}


def test_manylinux_tags_follow_the_board_glibc() -> None:
    tags = Platform.from_facts(BOOKWORM_ARM64).pip_platforms()
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux_2_34_aarch64" in tags
    assert "manylinux_2_17_aarch64" in tags and "manylinux2014_aarch64" in tags
    assert not any("2_37" in t or "x86_64" in t for t in tags)
    assert Platform.from_facts(BOOKWORM_ARM64).abi == "cp311"


def test_what_a_board_needs_depends_on_what_it_has() -> None:
    rpi4 = load_board("rpi4")
    wanted, notes = plan_requirements(rpi4, Platform.from_facts(BOOKWORM_ARM64), {})
    assert wanted == [LITERT, "ml_dtypes<0.6", TFLITE_RUNTIME] and notes == []
    bullseye = Platform("aarch64", "3.9", "2.31", "1.19.5")
    wanted, notes = plan_requirements(rpi4, bullseye, {})
    assert wanted == []
    assert any("ai-edge-litert 2.3.0 has no wheel for Python 3.9" in n for n in notes)
    assert any("tflite-runtime: no wheel for aarch64 glibc 2.31" in n and "needs glibc >= 2.34" in n for n in notes)
    wanted, notes = plan_requirements(rpi4, Platform.from_facts(BOOKWORM_ARM64),
                                      {"ai_edge_litert": "2.3.0", "tflite_runtime": "2.14.0"})
    assert wanted == [] and len(notes) == 2
    numpy2 = Platform("aarch64", "3.12", "2.39", "2.1.0")
    assert plan_requirements(rpi4, numpy2, {})[0] == [LITERT]


def test_trixie_gets_litert_beside_its_numpy_2_and_no_tflite_runtime() -> None:
    rpi5 = load_board("rpi5")
    trixie = Platform.from_facts(TRIXIE_ARM64)
    wanted, notes = plan_requirements(rpi5, trixie, {})
    assert wanted == [LITERT]  # no ml_dtypes pin: 0.6 is the one that fits numpy 2
    assert notes == ["tflite-runtime: no wheel for Python 3.13 (tflite-runtime 2.14.0, its last release, has "
                     "cp39-cp311); tflite_runtime is unavailable on this board"]


def test_trixie_wheels_resolve_for_cp313_and_leave_numpy_alone(models: dict[str, Path]) -> None:
    bundle = build_bundle(load_board("rpi5"), TRIXIE_ARM64, [inspect_model(models["float"])], "/usr/bin/python3")
    wheels = {f.name for f in bundle.files if f.kind == "wheel"}
    assert "ai_edge_litert-2.3.0-cp313-cp313-manylinux_2_27_aarch64.whl" in wheels
    assert not any(w.startswith(("numpy-", "tflite_runtime-")) for w in wheels), wheels
    assert bundle.unavailable == {"tflite_runtime": "tflite-runtime: no wheel for Python 3.13 (tflite-runtime "
                                                    "2.14.0, its last release, has cp39-cp311)"}
    assert bundle.requirements == [LITERT]


def test_the_local_board_keeps_edgeqs_own_environment() -> None:
    wanted, notes = plan_requirements(load_board("local"), Platform("x86_64", "3.11", "2.36", "1.26.4"), {})
    assert wanted == [] and "edgeq's own Python environment" in notes[0]


def test_aarch64_wheels_resolve_for_bookworm(models: dict[str, Path]) -> None:
    info = inspect_model(models["float"])
    bundle = build_bundle(load_board("rpi4"), BOOKWORM_ARM64, [info], "/usr/bin/python3")
    wheels = {f.name for f in bundle.files if f.kind == "wheel"}
    assert "tflite_runtime-2.14.0-cp311-cp311-manylinux_2_34_aarch64.whl" in wheels
    assert any(w.startswith("ai_edge_litert-2.3.0-cp311") and w.endswith("aarch64.whl") for w in wheels)
    ml_dtypes = [w for w in wheels if w.startswith("ml_dtypes-")]
    assert ml_dtypes and ml_dtypes[0].startswith("ml_dtypes-0.5.") and "aarch64" in ml_dtypes[0]
    assert not any(w.startswith("numpy-") for w in wheels), "the board keeps its Debian numpy"
    models_sent = [f for f in bundle.files if f.kind == "model"]
    assert models_sent[0].name == f"{info.sha256[:16]}-tiny_float.tflite"
    again = build_bundle(load_board("rpi4"), BOOKWORM_ARM64, [info], "/usr/bin/python3")
    assert again.deployment == bundle.deployment
    assert build_bundle(load_board("rpi4"), BOOKWORM_ARM64, [], "/usr/bin/python3").deployment == bundle.deployment


def test_a_board_whose_arch_disagrees_is_refused() -> None:
    from edgeq.errors import ConfigError

    with pytest.raises(ConfigError, match="board rpi4 says arch aarch64 but the board reports x86_64"):
        build_bundle(load_board("rpi4"), dict(BOOKWORM_ARM64, arch="x86_64"), [], "/usr/bin/python3")


def test_cli_bundle_lays_out_a_folder_with_its_manifest(models: dict[str, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    record: Board = write_board(tmp_path / "boards", "debianbundle", tmp_path / "work", python="/usr/bin/python3")
    monkeypatch.setenv("EDGEQ_BOARDS", str(record.boards_dir))
    out = tmp_path / "bundle"
    ran = run_cli("bundle", "--board", record.name, "--model", str(models["int8"]), "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == "edgeq.bundle/1" and manifest["platform"]["arch"] == "x86_64"
    for entry in manifest["files"]:
        assert (out / f"{entry['kind']}s" / entry["name"]).stat().st_size == entry["size"]
    assert (out / "agent.pyz").exists()
    assert any(e["name"].startswith("ai_edge_litert-2.3.0") for e in manifest["files"])
