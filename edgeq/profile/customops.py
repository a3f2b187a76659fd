"""`--custom-op-library PATH.so:REGISTERER[,REGISTERER...]`: a user's custom ops, on the host and the board.

TFLite's Python Interpreter registers custom ops through `custom_op_registerers`: names of
functions `void Register(tflite::MutableOpResolver*)` that it looks up in the process and
calls before it resolves the model's ops. Such a function calls the resolver's AddCustom,
which of the runtimes edgeq drives only tflite-runtime exports (2.14, seen with nm -D;
ai-edge-litert 2.3's interpreter module exports no symbol but its PyInit). So the library goes to
tflite-cpu on tflite_runtime: the file is sent into the run's folder, the agent loads it
(agent/backends/tflite_interpreter.load_custom_ops), and the host computes its reference
with the same library, in a child process (a user's library must not take edgeq down).
Other backends keep their custom-op refusal.

A library runs only on the architecture it was built for (its ELF header says which), so the
option is given once per build: `--custom-op-library aarch64/libops.so:Reg --custom-op-library
x86_64/libops.so:Reg`. The board gets the build for its record's `arch`, refused in one line
before anything is sent when there is none; the host's reference uses the build for the host,
and without one the run keeps the board's results and says "no reference" and why. On a local
board one build serves both.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.agent.wire import RunFiles, elf_machine
from edgeq.boards.catalog import host_arch
from edgeq.errors import ConfigError

RUNTIME = "tflite_runtime"
NOT_HERE = ("only tflite-cpu on tflite_runtime can (ai-edge-litert 2.3's interpreter exports no AddCustom for a "
            "library to call; its CompiledModel, the GPU route, takes custom kernels only through a C option, "
            "LiteRtAddCustomOpKernelOption, that its Python API does not expose; ArmNN's parser knows no custom ops)")
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class CustomOps:
    builds: dict[str, Path]
    """One library per architecture it is built for (platform.machine() names: aarch64, x86_64...)."""
    registerers: tuple[str, ...]

    @property
    def library(self) -> Path:
        """The first build given (what notes name)."""
        return next(iter(self.builds.values()))

    def for_arch(self, arch: str) -> Path | None:
        return self.builds.get(arch)

    def as_dict(self, board_arch: str) -> dict[str, Any]:
        """The host record's entry: `library` is the host's build (None: no reference can be computed)."""
        host = self.for_arch(host_arch())
        return {"library": str(host) if host else None, "board_library": str(self.builds[board_arch]),
                "registerers": list(self.registerers), "host_arch": host_arch()}


def parse(texts: str | list[str]) -> CustomOps:
    """Each PATH.so:REGISTERER[,REGISTERER], one per architecture; ConfigError (exit 2) in one line."""
    parsed = [_parse_one(text) for text in ([texts] if isinstance(texts, str) else texts)]
    builds: dict[str, Path] = {}
    for library, registerers, arch in parsed:
        if arch in builds:
            raise ConfigError(f"--custom-op-library: {builds[arch]} and {library} are both built for {arch}; "
                              "give one build per architecture")
        if registerers != parsed[0][1]:
            raise ConfigError(f"--custom-op-library: {library} names registerers {', '.join(registerers)}, "
                              f"{parsed[0][0]} names {', '.join(parsed[0][1])}; builds of one library share them")
        builds[arch] = library
    return CustomOps(builds, parsed[0][1])


def _parse_one(text: str) -> tuple[Path, tuple[str, ...], str]:
    path, sep, names = text.rpartition(":")
    if not sep or not path:
        raise ConfigError(f"--custom-op-library {text!r}: give the library and its registerer function, "
                          "PATH.so:RegisterMyOps (the name custom_op_registerers takes)")
    registerers = tuple(n.strip() for n in names.split(","))
    bad = [n for n in registerers if not _SYMBOL.match(n)]
    if bad:
        raise ConfigError(f"--custom-op-library: registerer {bad[0]!r} is not a C function name")
    library = Path(path).expanduser()
    if not library.is_file():
        raise ConfigError(f"--custom-op-library: no such file {library}")
    with library.open("rb") as handle:
        if handle.read(4) != b"\x7fELF":
            raise ConfigError(f"--custom-op-library: {library} is not a shared library (no ELF header)")
    arch = elf_machine(str(library))
    if arch is None:
        raise ConfigError(f"--custom-op-library: {library} is built for an architecture no board of edgeq's has")
    return library.resolve(), registerers, arch


def apply(requests: list[dict[str, Any]], custom: CustomOps | None) -> tuple[list[dict[str, Any]], list[str]]:
    """tflite-cpu requests take the library (on tflite_runtime, the runtime that can load one)."""
    if custom is None:
        return requests, []
    changed, notes = [], []
    for request in requests:
        runtime = request["options"].get("runtime", "auto")
        if request["name"] != "tflite-cpu" or runtime not in ("auto", RUNTIME):
            notes.append(f"{request['label']} cannot load --custom-op-library: {NOT_HERE}")
        else:
            options = dict(request["options"])
            if runtime == "auto":
                options["runtime"] = RUNTIME
                notes.append(f"{request['label']} runs on tflite_runtime: the runtime that can load "
                             f"--custom-op-library {custom.library.name}")
            options.update(custom_op_library=RunFiles.CUSTOM_OPS, custom_op_registerers=list(custom.registerers))
            request = dict(request, options=options)
        changed.append(request)
    return changed, notes


def takes_library(request: dict[str, Any]) -> bool:
    return bool(request["options"].get("custom_op_library")) and request["options"].get("runtime") == RUNTIME


_CHILD = """
import json, sys
import numpy as np
from tflite_runtime import interpreter as module
from edgeq.agent.backends.tflite_interpreter import load_custom_ops
model, library, registerers, given, out = sys.argv[1:6]
load_custom_ops("tflite_runtime", module, library)
it = module.InterpreterWithCustomOps(custom_op_registerers=json.loads(registerers), model_path=model, num_threads=1,
                                     experimental_op_resolver_type=module.OpResolverType.BUILTIN_REF)
with np.load(given) as saved:
    arrays = [saved[name] for name in saved.files]
for detail, array in zip(it.get_input_details(), arrays):
    if tuple(detail["shape"]) != array.shape:
        it.resize_tensor_input(detail["index"], list(array.shape), strict=True)
it.allocate_tensors()
for detail, array in zip(it.get_input_details(), arrays):
    it.set_tensor(detail["index"], array)
it.invoke()
np.savez(out, *[it.get_tensor(d["index"]) for d in it.get_output_details()])
"""


def reference_outputs(model: Path, arrays: list[np.ndarray], custom: dict[str, Any]) -> list[np.ndarray]:
    """The model's outputs on the host's tflite_runtime reference kernels, with the library loaded,
    computed in a child process; RuntimeError with the child's last line when it cannot."""
    if not custom.get("library"):  # only the board's build was given
        raise RuntimeError(f"the host ({custom.get('host_arch', host_arch())}) has no build of "
                           f"{Path(custom['board_library']).name} to compute a reference with: give one more "
                           "--custom-op-library built for it")
    with tempfile.TemporaryDirectory(prefix="edgeq-customref-") as folder:
        given, out = Path(folder) / "in.npz", Path(folder) / "out.npz"
        np.savez(given, *arrays)
        done = subprocess.run([sys.executable, "-c", _CHILD, str(model), custom["library"],
                               json.dumps(custom["registerers"]), str(given), str(out)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("INFO")]
            last = lines[-1] if lines else f"exit status {done.returncode}"
            raise RuntimeError(f"the host could not run the model with {Path(custom['library']).name}: {last}")
        with np.load(out) as saved:
            return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def attach(custom: CustomOps | None, board_arch: str, staging: Path, host: dict[str, Any], notes: list[str]) -> None:
    """The board's build into the run's upload folder, and the builds into the host record (the
    reference reads the host's there); ConfigError, before anything is sent, when none fits the board."""
    if custom is None:
        return
    import shutil

    board_build = custom.for_arch(board_arch)
    if board_build is None:
        given = ", ".join(f"{path.name} for {arch}" for arch, path in custom.builds.items())
        raise ConfigError(f"--custom-op-library: no build for the board's {board_arch} (given: {given}); build "
                          f"the library for {board_arch} too and give each with its own --custom-op-library")
    shutil.copyfile(board_build, staging / RunFiles.CUSTOM_OPS)
    host["model"]["custom_op_library"] = custom.as_dict(board_arch)
    host["warnings"] = host["warnings"] + notes
