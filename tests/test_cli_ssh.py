"""OpenSSH habits, end to end with a real sshd on loopback and a private HOME.

A board record says `host: <alias>` and nothing else about the connection: ~/.ssh/config
supplies HostName, Port, User and the key, as `ssh <alias>` would use them. `boards add`
writes a record that `profile` then uses; `boards stop-agents` stops the warm agent it left.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgeq.boards.schema import Connection
from edgeq.link.transport.openssh import resolve
from edgeq.testing.sshd import SshServer
from edgeq.testing.warm import running_warm_agents

from .conftest import assert_one_line_error, run_cli
from .ssh_fixtures import refused_port, sshd_server  # noqa: F401  (fixtures)


def _fingerprint(public_key: Path) -> str:
    done = subprocess.run(["ssh-keygen", "-lf", str(public_key)], capture_output=True, text=True, check=True)
    return done.stdout.split()[1]


@pytest.fixture
def home(tmp_path: Path, sshd_server: SshServer) -> dict[str, str]:  # noqa: F811
    """A fresh user: ~/.ssh/config names the loopback server `lb`; known_hosts trusts it."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd_server.known_hosts_line() + "\n")
    (home / ".ssh" / "config").write_text(
        "Host lb\n"
        "    HostName 127.0.0.1\n"
        f"    Port {sshd_server.port}\n"
        f"    User {sshd_server.user}\n"
        f"    IdentityFile {sshd_server.user_key_path}\n"
        "    IdentitiesOnly yes\n"
        # the jump goes through the system's ssh, which reads its own files: name them absolutely
        "Host lbjump\n"
        "    HostName 127.0.0.1\n"
        f"    Port {sshd_server.port}\n"
        f"    User {sshd_server.user}\n"
        f"    IdentityFile {sshd_server.user_key_path}\n"
        "    ProxyJump lb\n"
        f"Host *\n    UserKnownHostsFile {home / '.ssh' / 'known_hosts'}\n    StrictHostKeyChecking yes\n"
        f"    BatchMode yes\n"
    )
    (tmp_path / "boards").mkdir()
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "EDGEQ_BOARDS": str(tmp_path / "boards")}


def _alias_board(folder: Path, name: str, alias: str, work: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "arch": "x86_64" if sys.platform == "linux" else "aarch64",
              "connection": {"kind": "ssh", "host": alias},
              "cpu": {"model": "auto", "clusters": [{"name": "first", "core": "host", "cores": [0]}]},
              "backends": ["tflite-cpu"], "python": sys.executable, "work_dir": str(work)}
    import platform

    record["arch"] = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(record))


def test_host_alias_goes_through_ssh_config(sshd_server: SshServer, home: dict[str, str]) -> None:  # noqa: F811
    config = Path(home["HOME"]) / ".ssh" / "config"
    end = resolve("b", Connection(kind="ssh", host="lb"), config)
    assert (end.host, end.port, end.user) == ("127.0.0.1", sshd_server.port, sshd_server.user)
    assert end.keys == [str(sshd_server.user_key_path)] and end.identities_only
    # what the record says explicitly wins over the config
    end = resolve("b", Connection(kind="ssh", host="lb", port=2200, user="someone"), config)
    assert (end.host, end.port, end.user) == ("127.0.0.1", 2200, "someone")
    jump = resolve("b", Connection(kind="ssh", host="lbjump"), config)
    assert jump.proxy_command == f"ssh -F {config} -W 127.0.0.1:{sshd_server.port} lb"


def test_a_board_given_as_an_alias_deploys_and_profiles(sshd_server: SshServer, home: dict[str, str],  # noqa: F811
                                                        models: dict[str, Path], tmp_path: Path) -> None:
    _alias_board(Path(home["EDGEQ_BOARDS"]), "viaalias", "lb", tmp_path / "work")
    ran = run_cli("deploy", "--board", "viaalias", "-m", str(models["float"]), env=home)
    assert ran.returncode == 0, ran.stderr
    assert "viaalias" in ran.stdout and "sent" in ran.stdout
    ran = run_cli("profile", "-b", "viaalias", "-m", str(models["float"]), "--runs", "3", "--warmup", "0",
                  "--runs-dir", str(tmp_path / "runs"), env=home)
    assert ran.returncode == 0, ran.stderr
    assert "tflite-cpu" in ran.stdout and " ok " in ran.stdout
    # the warm agent is said, with how to stop it; stop-agents stops it
    assert "warm agent stays on board viaalias for 5 min" in ran.stderr
    assert "edgeq boards stop-agents --board viaalias" in ran.stderr
    assert running_warm_agents(tmp_path / "work")
    stopped = run_cli("boards", "stop-agents", "--board", "viaalias", env=home)
    assert stopped.returncode == 0, stopped.stderr
    assert "viaalias: stopped 1 warm agent" in stopped.stdout
    for _ in range(200):
        if not running_warm_agents(tmp_path / "work"):
            break
        import time

        time.sleep(0.05)
    assert running_warm_agents(tmp_path / "work") == []


def test_proxyjump_reaches_the_board_through_the_jump_host(sshd_server: SshServer, home: dict[str, str],  # noqa: F811
                                                           tmp_path: Path) -> None:
    def connections_for(board: str) -> int:
        before = sshd_server.log_path.read_text().count("Connection from")
        ran = run_cli("facts", "--board", board, "--json", env=home)
        assert ran.returncode == 0, ran.stderr
        assert '"arch"' in ran.stdout
        return sshd_server.log_path.read_text().count("Connection from") - before

    _alias_board(Path(home["EDGEQ_BOARDS"]), "direct", "lb", tmp_path / "work")
    _alias_board(Path(home["EDGEQ_BOARDS"]), "jumped", "lbjump", tmp_path / "work")
    # the jump host's own connection comes on top: the board was reached through it
    assert connections_for("jumped") > connections_for("direct")


def test_boards_add_writes_a_record_that_profile_uses(sshd_server: SshServer, home: dict[str, str],  # noqa: F811
                                                     models: dict[str, Path], tmp_path: Path) -> None:
    ran = run_cli("boards", "add", "added", "--host", "lb", "--python", sys.executable,
                  "--work-dir", str(tmp_path / "added-work"), env=home)
    assert ran.returncode == 0, ran.stderr
    assert _fingerprint(Path(f"{sshd_server.host_key_path}.pub")) in ran.stdout
    path = Path(home["XDG_CONFIG_HOME"]) / "edgeq" / "boards" / "added.yaml"
    assert f"wrote {path}" in ran.stdout
    record = yaml.safe_load(path.read_text())
    assert record["connection"] == {"kind": "ssh", "host": "lb"}  # the config keeps supplying the rest
    listed = run_cli("boards", "list", "--json", env=home)
    entry = next(b for b in yaml.safe_load(listed.stdout)["boards"] if b["name"] == "added")
    assert entry["origin"] == "user"
    again = run_cli("boards", "add", "added", "--host", "lb", env=home)
    assert_one_line_error(again, 2, "already exists", "--replace")
    ran = run_cli("profile", "-b", "added", "-m", str(models["float"]), "--runs", "2", "--warmup", "0",
                  "--runs-dir", str(tmp_path / "runs"), env=home)
    assert ran.returncode == 0, ran.stderr
    assert "tflite-cpu" in ran.stdout


def test_boards_add_refuses_an_unknown_host_key_and_writes_nothing(sshd_server: SshServer,  # noqa: F811
                                                                   home: dict[str, str]) -> None:
    (Path(home["HOME"]) / ".ssh" / "known_hosts").write_text("")
    ran = run_cli("boards", "add", "stranger", "--host", "lb", env=home)
    assert_one_line_error(ran, 3, _fingerprint(Path(f"{sshd_server.host_key_path}.pub")), "--accept-new-host-key")
    assert not (Path(home["XDG_CONFIG_HOME"]) / "edgeq" / "boards" / "stranger.yaml").exists()
    ran = run_cli("boards", "add", "stranger", "--host", "lb", "--no-check", env=home)
    assert ran.returncode == 0 and "not checked" in ran.stdout


def test_a_refused_connection_says_what_to_check(home: dict[str, str], tmp_path: Path, refused_port: int) -> None:
    port = refused_port
    folder = Path(home["EDGEQ_BOARDS"])
    _alias_board(folder, "closed", "127.0.0.1", tmp_path / "work")
    record = yaml.safe_load((folder / "closed.yaml").read_text())
    record["connection"]["port"] = port
    (folder / "closed.yaml").write_text(yaml.safe_dump(record))
    ran = run_cli("facts", "--board", "closed", env=home)
    assert_one_line_error(ran, 3, f"127.0.0.1:{port}", f"ssh -p {port}", "edgeq boards add closed --host")
