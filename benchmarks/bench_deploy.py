"""Deploy over SSH to loopback boards: a no-change re-deploy, and a fleet of 4 against one board.

    .venv/bin/python benchmarks/bench_deploy.py [--trials 5]

Each board is a real OpenSSH server on 127.0.0.1 (edgeq.testing.sshd), so the
figures include real SSH and SFTP round trips, not the network of a lab.
  1. re-deploy with nothing changed: edgeq (0 bytes sent) against the plain
     alternative, `scp` of the same files to the same board;
  2. deploy + profile on 2 and 4 boards in parallel against the same on 1 board, with
     the CPU-seconds each step used: loopback boards share this machine's cores, so a
     fleet can be no faster than its total CPU over the cores ("floor").
Needs openssh-server and openssh-client (scp). Writes nothing outside a temp dir.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgeq import zoo
from edgeq.deploy.plan import deploy
from edgeq.profile.run import profile
from edgeq.testing.sshd import SshServer, board_yaml, start_sshd


def _boards(tmp: Path, count: int, user: str | None) -> list[tuple[str, SshServer]]:
    (tmp / "home" / ".ssh").mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(tmp / "home")
    os.environ["EDGEQ_BOARDS"] = str(tmp / "boards")
    (tmp / "boards").mkdir(exist_ok=True)
    if user:  # the board account must reach its work dir and this python
        tmp.chmod(0o755)
        (tmp / "work").mkdir(exist_ok=True)
        shutil.chown(tmp / "work", user)
    made = []
    for i in range(count):
        server = start_sshd(tmp / f"sshd{i}", user=user)
        name = f"loop{i}"
        (tmp / "boards" / f"{name}.yaml").write_text(board_yaml(name, server, tmp / "work"))
        with (tmp / "home" / ".ssh" / "known_hosts").open("a") as handle:
            handle.write(server.known_hosts_line() + "\n")
        made.append((name, server))
    return made


def _scp_seconds(server: SshServer, files: list[Path], tmp: Path) -> float:
    target = tmp / "work" / "scp-target"  # the board account owns work/
    target.mkdir(parents=True, exist_ok=True)
    shutil.chown(target, server.user)
    t0 = time.perf_counter()
    subprocess.run(["scp", "-q", "-P", str(server.port), "-i", str(server.user_key_path),
                    "-o", f"UserKnownHostsFile={tmp / 'home' / '.ssh' / 'known_hosts'}", "-o", "BatchMode=yes",
                    *map(str, files), f"{server.user}@127.0.0.1:{target}/"], check=True)
    return time.perf_counter() - t0


FLEETS = [1, 2, 4]


def _busy_cpu_s() -> float:
    """CPU-seconds this machine has spent busy (every process: host, sshd, the boards' agents)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def _deploy_and_profile(board: str, model: Path, runs_dir: Path) -> None:
    """`edgeq profile` deploys first (sending only what the board lacks), then runs."""
    run = profile(model, board=board, runs=20, warmup=2, runs_dir=runs_dir)
    assert run.ok, run.result["backends"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--board-user", help="log in to the loopback boards as this account, created for the run "
                                             "if missing (needs root): a board user's shell start-up, not yours")
    args = parser.parse_args()
    created = _ensure_user(args.board_user) if args.board_user else False
    try:
        _run(args)
    finally:
        if created:
            subprocess.run(["userdel", "--force", "--remove", args.board_user], capture_output=True)


def _ensure_user(name: str) -> bool:
    """Create `name` with Debian's default shell set-up; say whether it was created here."""
    if subprocess.run(["id", name], capture_output=True).returncode == 0:
        return False
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    # No password, but not locked: sshd without PAM refuses key logins to locked accounts.
    subprocess.run(["usermod", "--password", "*", name], check=True)
    return True


def _run(args: argparse.Namespace) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"trials {args.trials}, board user {args.board_user or os.environ.get('USER', 'this one')}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        boards = _boards(tmp, 4, args.board_user)
        try:
            model = zoo.build("mobilenet_v1", tmp / "mobilenet_v1_0.25_128.tflite", alpha=0.25, resolution=128)
            first, server = boards[0]
            deploy(first, [model])
            edgeq_s, sent, scp_s = [], [], []
            for _ in range(args.trials):
                result = deploy(first, [model])
                edgeq_s.append(result.seconds)
                sent.append(result.bytes_sent)
                scp_s.append(_scp_seconds(server, [model], tmp))
            print("\n| re-deploy, nothing changed | median s | bytes sent |\n| --- | --- | --- |")
            print(f"| edgeq deploy | {statistics.median(edgeq_s):.3f} | {max(sent)} |")
            print(f"| scp of the same model | {statistics.median(scp_s):.3f} | {model.stat().st_size} |")
            print(f"| ratio edgeq/scp | {statistics.median(edgeq_s) / statistics.median(scp_s):.2f} | |")

            walls: dict[int, list[float]] = {n: [] for n in FLEETS}
            cpus: dict[int, list[float]] = {n: [] for n in FLEETS}
            for trial in range(args.trials):
                runs = tmp / f"runs{trial}"
                order = FLEETS[trial % len(FLEETS):] + FLEETS[:trial % len(FLEETS)]  # no order effect
                for count in order:
                    busy0, t0 = _busy_cpu_s(), time.perf_counter()
                    with ThreadPoolExecutor(max_workers=count) as pool:
                        list(pool.map(lambda b: _deploy_and_profile(b[0], model, runs), boards[:count]))
                    walls[count].append(time.perf_counter() - t0)
                    cpus[count].append(_busy_cpu_s() - busy0)
            one = statistics.median(walls[1])
            cores = os.cpu_count() or 1
            print("\n| deploy + profile (20 runs, MobileNetV1 0.25/128) | median wall s | ratio to 1 board "
                  "| CPU-s used (all processes) | floor: CPU-s / cores | wall / floor |")
            print("| --- | --- | --- | --- | --- | --- |")
            for count in FLEETS:
                wall, cpu = statistics.median(walls[count]), statistics.median(cpus[count])
                floor = max(cpu / cores, one)
                print(f"| {count} board{'s' if count > 1 else ''} | {wall:.3f} | {wall / one:.2f} | {cpu:.3f} "
                      f"| {floor:.3f} | {wall / floor:.2f} |")
        finally:  # never leave a server behind, whatever failed
            for _, srv in boards:
                srv.stop()


if __name__ == "__main__":
    main()
