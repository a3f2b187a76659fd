"""What this machine is and has: the agent's `facts` command.

Every path is read under `root` so that tests can point it at a fake tree;
on a board root is "/".
"""

from __future__ import annotations

import glob
import json
import os
import platform
import subprocess
import sys
from importlib import metadata, util
from typing import Any, Dict, List, Optional, Sequence

# CPU part numbers of ARM Ltd. (implementer 0x41) cores seen on the boards edgeq targets.
ARM_PARTS = {
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1",
    "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2", "0xd4b": "Cortex-A78C",
    "0xc07": "Cortex-A7", "0xc0f": "Cortex-A15", "0xc09": "Cortex-A9",
}
RUNTIME_DISTRIBUTIONS = {
    "ai_edge_litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "tensorflow": "tensorflow",
}
LIBRARY_DIRS = (
    "usr/lib", "usr/local/lib", "usr/lib/aarch64-linux-gnu", "usr/lib/arm-linux-gnueabihf",
    "usr/lib/x86_64-linux-gnu", "opt/edgeq/lib",
)
NAMED_LIBRARIES = {
    "gpu_delegate": "libtensorflowlite_gpu_delegate.so*",
    "armnn_delegate": "libarmnnDelegate.so*",
    "armnn": "libarmnn.so*",
    "mali": "libmali*.so*",
    "opencl": "libOpenCL.so*",
    "vulkan": "libvulkan.so*",
}


def _read(root: str, path: str) -> Optional[str]:
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def cpu(root: str = "/") -> Dict[str, Any]:
    text = _read(root, "/proc/cpuinfo") or ""
    cores: List[Dict[str, Any]] = []
    current: Dict[str, str] = {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if "processor" in current:
                cores.append(current)
            current = {}
            continue
        key, _, value = line.partition(":")
        current[key.strip()] = value.strip()
    per_core = []
    for core in cores:
        part = core.get("CPU part")
        name = ARM_PARTS.get(part or "", core.get("model name") or part or "unknown")
        per_core.append({"id": int(core["processor"]), "part": part, "name": name})
    names = sorted({c["name"] for c in per_core})
    model = _read(root, "/sys/firmware/devicetree/base/model") or _read(root, "/proc/device-tree/model")
    return {
        "model": " + ".join(names) if names else platform.processor() or "unknown",
        "cores": per_core,
        "count": len(per_core) or os.cpu_count(),
        "board_model": model.rstrip("\x00") if model else None,
        "features": (cores[0].get("Features") or cores[0].get("flags", "")).split()[:64] if cores else [],
    }


def cpufreq(root: str = "/") -> List[Dict[str, Any]]:
    policies = []
    for path in sorted(glob.glob(os.path.join(root, "sys/devices/system/cpu/cpufreq/policy*"))):
        rel = os.path.relpath(path, root)

        def value(name: str) -> Optional[str]:
            return _read(root, f"{rel}/{name}")

        policies.append({
            "policy": os.path.basename(path),
            "cpus": value("related_cpus"),
            "governor": value("scaling_governor"),
            "available_governors": (value("scaling_available_governors") or "").split(),
            "min_khz": value("scaling_min_freq"),
            "max_khz": value("scaling_max_freq"),
            "cur_khz": value("scaling_cur_freq"),
        })
    return policies


def _os_fields(root: str) -> Dict[str, str]:
    fields: Dict[str, str] = {}
    for line in (_read(root, "/etc/os-release") or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


def _os_release(root: str) -> Optional[str]:
    return _os_fields(root).get("PRETTY_NAME")


def os_release(root: str = "/") -> Dict[str, Optional[str]]:
    """The OS generation: Raspberry Pi OS and Debian images both say their Debian codename
    (bookworm, trixie); `debian` is Debian's major version from /etc/debian_version."""
    fields = _os_fields(root)
    debian = (_read(root, "/etc/debian_version") or "").split(".")[0]
    return {
        "id": fields.get("ID"),
        "name": fields.get("NAME"),
        "version_id": fields.get("VERSION_ID"),
        "codename": fields.get("VERSION_CODENAME") or fields.get("DEBIAN_CODENAME"),
        "debian": debian if debian.isdigit() else None,
        "pretty": fields.get("PRETTY_NAME"),
    }


def runtimes() -> Dict[str, Any]:
    """Runtime versions from package metadata: importing them here would cost seconds."""
    found: Dict[str, Any] = {}
    for module, distribution in RUNTIME_DISTRIBUTIONS.items():
        if util.find_spec(module) is None:
            continue
        try:
            found[module] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[module] = "unknown"
    return found


def armnn_backend_files(root: str = "/") -> List[str]:
    """ArmNN's dynamically loaded backends (Debian 13: /usr/lib/<triplet>/armnn33/*_backend.so)."""
    return _glob_all(root, ["usr/lib"], "*/armnn*/*_backend.so")


def armnn_probe(timeout_s: float = 60) -> Dict[str, Any]:
    """pyarmnn's version and backends, asked in a child: its import can abort or print.
    The runtime gets the dynamic backends folder of its own ArmNN major version, as the
    armnn backend does (see backends/armnn.py): without it 23.08 lists no CpuAcc."""
    code = (
        "import glob, json, pyarmnn as a\n"
        "o = a.CreationOptions()\n"
        "v = str(getattr(a, 'ARMNN_VERSION', a.__version__))\n"
        "d = sorted(glob.glob('/usr/lib/*/armnn' + v.split('.')[0]))\n"
        "if d and hasattr(o, 'm_DynamicBackendsPath'): o.m_DynamicBackendsPath = d[0]\n"
        "r = a.IRuntime(o)\n"
        "print(json.dumps({'version': a.__version__, 'armnn_version': v, 'dynamic_backends_path': d[0] if d else None,"
        " 'backends': [str(b) for b in r.GetDeviceSpec().GetSupportedBackends()]}))\n"
    )
    if util.find_spec("pyarmnn") is None:
        return {"installed": False}
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"installed": True, "error": f"probe timed out after {timeout_s:g} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"installed": True, "error": f"probe exited {done.returncode}: {last}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]), installed=True)


def _glob_all(root: str, dirs: Sequence[str], pattern: str) -> List[str]:
    hits: List[str] = []
    for directory in dirs:
        base = os.path.join(root, directory.lstrip("/"))
        hits.extend(os.path.join("/", os.path.relpath(p, root)) for p in sorted(glob.glob(os.path.join(base, pattern))))
    return hits


def gpu(root: str = "/", extra_dirs: Sequence[str] = ()) -> Dict[str, Any]:
    dirs = list(LIBRARY_DIRS) + [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d] + list(extra_dirs)
    vulkan_icds = _glob_all(root, ["usr/share/vulkan/icd.d", "etc/vulkan/icd.d"], "*.json")
    for var in ("VK_ICD_FILENAMES", "VK_DRIVER_FILES"):
        vulkan_icds += [p for p in os.environ.get(var, "").split(":") if p]
    return {
        "opencl_icds": _glob_all(root, ["etc/OpenCL/vendors"], "*.icd"),
        "vulkan_icds": vulkan_icds,
        "mali_device": os.path.exists(os.path.join(root, "dev/mali0")),
        "libraries": {key: _glob_all(root, dirs, pattern) for key, pattern in NAMED_LIBRARIES.items()},
    }


def quick_facts(root: str = "/") -> Dict[str, Any]:
    """The facts a result carries: cheap, no runtime imported."""
    uname = platform.uname()
    try:
        numpy_version: Optional[str] = metadata.version("numpy")
    except metadata.PackageNotFoundError:
        numpy_version = None
    return {
        "hostname": uname.node,
        "arch": uname.machine,
        "kernel": uname.release,
        "distro": _os_release(root),
        "os": os_release(root),
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "glibc": platform.libc_ver()[1] or None,
        "numpy": numpy_version,
        "cpu": cpu(root),
        "cpufreq": cpufreq(root),
        "runtimes": runtimes(),
    }


def all_facts(root: str = "/", extra_dirs: Sequence[str] = ()) -> Dict[str, Any]:
    found = quick_facts(root)
    found["pyarmnn"] = armnn_probe()
    found["pyarmnn"]["backend_files"] = armnn_backend_files(root)
    found["gpu"] = gpu(root, extra_dirs)
    return found
