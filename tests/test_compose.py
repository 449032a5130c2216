"""docker-compose.yml, the Dockerfile and .dockerignore, checked where no Docker engine runs.

Nothing here starts a container. The files are read as data and held to what
the rest of the repository says: every `stockledger …` they call is a command
of the real CLI taking the options given, the environment they set is read by
it, the store the engine is pointed at is the broker's in-network listener, the
image installs every package pyproject.toml declares. A renamed command, option
or package fails here rather than at a deploy.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from engine.cli import app
from engine.kafka.broker import MESSAGE_BYTES_MAX

ROOT: Final = Path(__file__).resolve().parents[1]
COMPOSE_PATH: Final = ROOT / "docker-compose.yml"
DOCKERFILE_PATH: Final = ROOT / "Dockerfile"
DOCKERIGNORE_PATH: Final = ROOT / ".dockerignore"
PYPROJECT: Final = tomllib.loads((ROOT / "pyproject.toml").read_text())

BASE_IMAGE: Final = "python:3.11-slim"
OFFICIAL_IMAGES: Final = {"kafka": "apache/kafka", "postgres": "postgres"}
LOOPBACK: Final = "127.0.0.1"
ENV_PREFIX: Final = "STOCKLEDGER_"

runner = CliRunner()


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def _dockerfile_instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        keyword, _, arguments = " ".join([*pending, line]).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def _stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"{instruction.keyword} before the Dockerfile's first FROM"
        stages[-1].append(instruction)
    return stages


def _exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of ENTRYPOINT or CMD: the shell form would leave a shell as
    PID 1, and the engine would never see the SIGTERM of a `docker stop`."""
    try:
        words = json.loads(instruction.arguments)
    except json.JSONDecodeError:
        words = None
    assert isinstance(words, list), (
        f"{instruction.keyword} {instruction.arguments}: write it as a JSON array (exec form)"
    )
    return [str(word) for word in words]


def _copy_sources(stage: list[Instruction]) -> list[str]:
    sources: list[str] = []
    for instruction in stage:
        if instruction.keyword != "COPY" or "--from=" in instruction.arguments:
            continue
        words = [w for w in shlex.split(instruction.arguments) if not w.startswith("--")]
        sources += [source.rstrip("/") for source in words[:-1]]
    return sources


COMPOSE: Final[dict[str, Any]] = yaml.safe_load(COMPOSE_PATH.read_text())
SERVICES: Final[dict[str, dict[str, Any]]] = COMPOSE["services"]
DOCKERFILE: Final = _dockerfile_instructions(DOCKERFILE_PATH.read_text())
STAGES: Final = _stages(DOCKERFILE)
FINAL_STAGE: Final = STAGES[-1]


def _last(stage: list[Instruction], keyword: str) -> Instruction | None:
    found = [i for i in stage if i.keyword == keyword]
    return found[-1] if found else None


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either of compose's two spellings."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _words(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(word) for word in value]


def _own_image_services() -> dict[str, dict[str, Any]]:
    """The services running the image built from this repository's Dockerfile."""
    built = {service.get("image") for service in SERVICES.values() if "build" in service}
    return {
        name: service
        for name, service in SERVICES.items()
        if "build" in service or service.get("image") in built
    }


def _service_argv(service: dict[str, Any]) -> list[str]:
    """What a container of our image runs: the entrypoint, then the command."""
    if "entrypoint" in service:
        # Docker drops the image's CMD when the entrypoint is overridden.
        return _words(service["entrypoint"]) + _words(service.get("command", []))
    entrypoint = _last(FINAL_STAGE, "ENTRYPOINT")
    command = _last(FINAL_STAGE, "CMD")
    image_command = _exec_form(command) if command else []
    entrypoint_words = _exec_form(entrypoint) if entrypoint else []
    return entrypoint_words + _words(service.get("command", image_command))


@dataclass(frozen=True)
class Invocation:
    where: str
    argv: tuple[str, ...]  # after `stockledger`

    def __str__(self) -> str:
        return f"{self.where}: stockledger {shlex.join(self.argv)}"


def _stockledger_args(words: list[str]) -> tuple[str, ...] | None:
    if words and Path(words[0]).name == "stockledger":
        return tuple(words[1:])
    return None


def _shell_commands(script: str) -> Iterator[list[str]]:
    for part in re.split(r"&&|\|\||;|\|", script):
        if part.strip():
            yield shlex.split(part)


def _health_check_commands(service: dict[str, Any]) -> Iterator[list[str]]:
    """The commands of a health check: a string or CMD-SHELL runs a shell."""
    test = service.get("healthcheck", {}).get("test", [])
    if isinstance(test, str):
        yield from _shell_commands(test)
    elif test[:1] == ["CMD-SHELL"]:
        yield from _shell_commands(test[1])
    elif test[:1] == ["CMD"]:
        yield [str(word) for word in test[1:]]


def _invocations() -> list[Invocation]:
    """Every `stockledger …` that docker-compose.yml or the Dockerfile would run."""
    found: list[Invocation] = []
    for name, service in _own_image_services().items():
        args = _stockledger_args(_service_argv(service))
        if args is not None:
            found.append(Invocation(f"docker-compose.yml service {name}", args))
    for name, service in SERVICES.items():
        for words in _health_check_commands(service):
            args = _stockledger_args(words)
            if args is not None:
                found.append(Invocation(f"docker-compose.yml healthcheck of {name}", args))
    for instruction in DOCKERFILE:
        if instruction.keyword == "RUN":
            for words in _shell_commands(instruction.arguments):
                args = _stockledger_args(words)
                if args is not None:
                    found.append(Invocation("Dockerfile RUN", args))
    args = _stockledger_args(_service_argv({}))
    if args is not None:
        found.append(Invocation("Dockerfile ENTRYPOINT and CMD", args))
    return found


INVOCATIONS: Final = _invocations()


def _command_of(argv: tuple[str, ...]) -> tuple[list[str], list[Any]]:
    """The sub-commands `argv` names, nested as deep as it goes, and the commands
    along that path from the root down."""
    commands: list[Any] = [typer.main.get_command(app)]
    path: list[str] = []
    for word in argv:
        subcommands = getattr(commands[-1], "commands", None)
        if not subcommands or word.startswith("-"):
            break
        assert word in subcommands, (
            f"`stockledger {shlex.join([*path, word])}` is no command: "
            f"`{shlex.join(['stockledger', *path])}` has {sorted(subcommands)}"
        )
        commands.append(subcommands[word])
        path.append(word)
    return path, commands


def _envvars_read(commands: list[Any]) -> set[str]:
    """The environment variables the options of these commands read."""
    names: set[str] = set()
    for command in commands:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def _option_value(argv: tuple[str, ...], option: str) -> str | None:
    for i, word in enumerate(argv):
        if word == option and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(f"{option}="):
            return word.partition("=")[2]
    return None


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,…` as {name: (host, port)}; an empty host is every interface."""
    listeners: dict[str, tuple[str, int]] = {}
    for listener in value.split(","):
        name, _, address = listener.partition("://")
        host, _, port = address.rpartition(":")
        listeners[name] = (host, int(port))
    return listeners


def _kafka_env() -> dict[str, str]:
    return _environment(SERVICES["kafka"])


def _brokers() -> int:
    """The KRaft voters: on this single-node set-up, the brokers there are."""
    return len(_kafka_env()["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port."""
    published = []
    for port in service.get("ports", []):
        assert isinstance(port, str), f"write port {port!r} as HOST_IP:HOST_PORT:CONTAINER_PORT"
        host_ip, host_port, container_port = port.rsplit(":", 2)
        published.append((host_ip, int(host_port), int(container_port)))
    return published


def _image(name: str) -> tuple[str, str]:
    image = SERVICES[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository, f"service {name}: image {image!r} names no tag"
    assert "/" not in tag, f"service {name}: image {image!r} names no tag"
    return repository, tag


# --- docker-compose.yml ---


def test_compose_has_the_broker_the_database_and_the_engine() -> None:
    assert {"kafka", "postgres", "engine"} <= set(SERVICES)
    assert "build" in SERVICES["engine"], "the engine's image is built from this repository"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_images_are_pinned(name: str) -> None:
    repository, tag = _image(name)
    assert tag != "latest", f"service {name}: pin {repository} to a version"
    assert re.search(r"\d", tag), f"service {name}: pin {repository} to a version, not {tag!r}"
    if name in OFFICIAL_IMAGES:
        assert repository == OFFICIAL_IMAGES[name]


def test_own_image_is_tagged_with_the_project_version() -> None:
    repository, tag = _image("engine")
    assert repository == PYPROJECT["project"]["name"]
    assert tag == PYPROJECT["project"]["version"], "tag the image with pyproject's version"


@pytest.mark.parametrize("name", ["kafka", "postgres"])
def test_stateful_services_have_health_checks(name: str) -> None:
    healthcheck = SERVICES[name].get("healthcheck", {})
    test = _words(healthcheck.get("test", []))
    assert test[:1] in (["CMD"], ["CMD-SHELL"]), f"service {name}: no health check command"
    assert {"interval", "timeout", "retries", "start_period"} <= set(healthcheck)


def test_postgres_health_check_is_pg_isready() -> None:
    test = _words(SERVICES["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(test[1:])


def test_kafka_health_check_asks_a_listener_the_broker_has() -> None:
    test = _words(SERVICES["kafka"]["healthcheck"]["test"])
    bootstrap = _option_value(tuple(test), "--bootstrap-server")
    assert bootstrap is not None, "the health check should ask the broker itself"
    ports = {port for _host, port in _listeners(_kafka_env()["KAFKA_LISTENERS"]).values()}
    assert int(bootstrap.rpartition(":")[2]) in ports


def test_dependencies_wait_until_healthy() -> None:
    """A plain list of dependencies waits only until their containers start: the
    engine would meet a broker that refuses connections for its first seconds."""
    for name, service in SERVICES.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"service {name}: depends_on needs conditions"
        for dependency, settings in depends_on.items():
            assert settings.get("condition") == "service_healthy", f"{name} on {dependency}"
            assert "healthcheck" in SERVICES[dependency], f"{dependency} has no health check"
    for name, service in _own_image_services().items():
        assert "kafka" in service.get("depends_on", {}), f"service {name} needs the broker"


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/", "~")):
                used.add(source)
    assert used == declared


def _mounts(name: str) -> dict[str, str]:
    """{container path: volume} of a service's named volumes."""
    mounts = {}
    for volume in SERVICES[name].get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def test_kafka_keeps_its_log_dirs_on_a_volume() -> None:
    assert _kafka_env()["KAFKA_LOG_DIRS"] in _mounts("kafka")


def test_postgres_keeps_its_data_on_a_volume() -> None:
    """Up to 17 the image's data is /var/lib/postgresql/data; from 18 the volume is
    the folder above it, and a mount at the old path makes the server refuse to start."""
    _repository, tag = _image("postgres")
    major = int(re.split(r"[.-]", tag)[0])
    expected = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    assert expected in _mounts("postgres")
    assert "PGDATA" not in _environment(SERVICES["postgres"])


def test_postgres_password_comes_from_the_host() -> None:
    password = _environment(SERVICES["postgres"])["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD:?"), "keep the password out of the file"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_published_ports_are_on_loopback_only(name: str) -> None:
    for host_ip, _host_port, _container_port in _published(SERVICES[name]):
        assert host_ip == LOOPBACK, f"service {name} publishes a port on {host_ip or 'all'}"


def test_engine_publishes_no_port() -> None:
    """It reads commands from Kafka: nothing connects to it."""
    assert _published(SERVICES["engine"]) == []


def test_kafka_publishes_the_listener_it_advertises_to_the_host() -> None:
    env = _kafka_env()
    listening = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    for_host = {name: port for name, (host, port) in advertised.items() if host == "localhost"}
    assert len(for_host) == 1, "advertise one listener as localhost:PORT for this host"
    ((name, port),) = for_host.items()
    assert listening[name][1] == port
    assert (LOOPBACK, port, port) in _published(SERVICES["kafka"])


def test_postgres_publishes_its_port() -> None:
    assert [p[2] for p in _published(SERVICES["postgres"])] == [5432]


def test_kafka_cluster_id_is_a_kafka_uuid() -> None:
    """The storage format refuses anything but 16 bytes in URL-safe base64."""
    cluster_id = _kafka_env()["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert len(cluster_id) == 22


def test_kafka_replication_fits_the_brokers() -> None:
    """Internal topics asking for more replicas than there are brokers are never
    created, and the engine's transactional producer then waits forever."""
    env = _kafka_env()
    for key, value in env.items():
        if key.endswith(("REPLICATION_FACTOR", "MIN_ISR", "MIN_INSYNC_REPLICAS")):
            assert 1 <= int(value) <= _brokers(), f"{key}={value} on {_brokers()} broker(s)"


def test_kafka_keeps_events_forever() -> None:
    assert _kafka_env()["KAFKA_LOG_RETENTION_MS"] == "-1"


def test_kafka_takes_what_the_local_broker_takes() -> None:
    """The store is built and tested against the local broker (`engine.kafka`): a
    commit's record it writes there must fit here too, and no topic appears unasked."""
    env = _kafka_env()
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= MESSAGE_BYTES_MAX
    assert int(env["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= MESSAGE_BYTES_MAX
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


@pytest.mark.parametrize("name", sorted(_own_image_services()))
def test_environment_is_read_by_the_engine(name: str) -> None:
    """A misspelt STOCKLEDGER_ variable would be ignored without a word."""
    args = _stockledger_args(_service_argv(SERVICES[name]))
    assert args is not None, f"service {name} runs our image but not `stockledger`"
    path, commands = _command_of(args)
    ours = {key for key in _environment(SERVICES[name]) if key.startswith(ENV_PREFIX)}
    unread = ours - _envvars_read(commands)
    assert not unread, f"`stockledger {' '.join(path)}` reads none of {sorted(unread)}"


def test_engine_store_is_the_brokers_internal_listener() -> None:
    args = _stockledger_args(_service_argv(SERVICES["engine"]))
    assert args is not None
    store = _option_value(args, "--store") or _environment(SERVICES["engine"]).get(
        f"{ENV_PREFIX}STORE"
    )
    assert store is not None, "the engine is given no store"
    url = urlsplit(store)
    assert url.scheme == "kafka"
    advertised = _listeners(_kafka_env()["KAFKA_ADVERTISED_LISTENERS"]).values()
    assert (url.hostname, url.port) in advertised
    assert url.hostname == "kafka", "inside the compose network the broker is `kafka`"


@pytest.mark.parametrize("invocation", INVOCATIONS, ids=str)
def test_every_stockledger_command_called_exists(invocation: Invocation) -> None:
    """The command path answers `--help`, and so does the whole call with `--help`
    appended: the CLI parses every option before it acts on `--help`, so an
    option it does not take fails the second call."""
    path, _commands = _command_of(invocation.argv)
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, f"{invocation}\n{result.output}"
    result = runner.invoke(app, [*invocation.argv, "--help"])
    assert result.exit_code == 0, f"{invocation}\n{result.output}"


def test_the_engine_service_is_among_the_calls_checked() -> None:
    assert any(i.where == "docker-compose.yml service engine" for i in INVOCATIONS)


# --- Dockerfile ---


def test_every_stage_starts_from_the_same_python() -> None:
    """The final stage runs the virtualenv the build stage made: its compiled
    extension needs the very same Python."""
    for stage in STAGES:
        image = stage[0].arguments.split()[0]
        assert image == BASE_IMAGE, f"FROM {image}: the image is built on {BASE_IMAGE}"


def test_dockerfile_installs_the_project() -> None:
    runs = [i.arguments for i in DOCKERFILE if i.keyword == "RUN"]
    assert any(re.search(r"\bpip install\b.*\s\.(\s|$)", run) for run in runs), "no `pip install .`"
    packages = [
        p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    needed = {"pyproject.toml", "setup.py", PYPROJECT["project"]["readme"], *packages}
    copied = {source for stage in STAGES for source in _copy_sources(stage)}
    assert needed <= copied, f"the build misses {sorted(needed - copied)}"


def test_image_runs_as_a_user_not_root() -> None:
    user = _last(FINAL_STAGE, "USER")
    entrypoint = _last(FINAL_STAGE, "ENTRYPOINT")
    assert user is not None
    assert entrypoint is not None
    assert user.arguments.split(":")[0] not in ("root", "0")
    assert FINAL_STAGE.index(user) < FINAL_STAGE.index(entrypoint)


def test_entrypoint_is_the_projects_script() -> None:
    entrypoint = _last(FINAL_STAGE, "ENTRYPOINT")
    assert entrypoint is not None
    (script,) = _exec_form(entrypoint)
    assert script in PYPROJECT["project"]["scripts"]


# --- .dockerignore ---


def _dockerignore() -> list[tuple[bool, str]]:
    """(re-included, pattern) in file order."""
    patterns = []
    for raw in DOCKERIGNORE_PATH.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            patterns.append((line.startswith("!"), line.lstrip("!")))
    return patterns


def _ignored(path: str) -> bool:
    """Docker's rule for the patterns this file uses: the last pattern matching the
    path or a folder above it decides; `**/` matches any depth, none included."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for reincluded, pattern in _dockerignore():
        alternatives = (
            [pattern, pattern.removeprefix("**/")] if pattern.startswith("**/") else [pattern]
        )
        if any(fnmatch.fnmatchcase(c, p) for c in candidates for p in alternatives):
            ignored = not reincluded
    return ignored


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    for source in {s for stage in STAGES for s in _copy_sources(stage)}:
        assert not _ignored(source), f".dockerignore keeps {source} from the build"
    assert not _ignored("engine/stock/_core.pyx")


@pytest.mark.parametrize(
    "path",
    [".venv", ".git", "data/stockledger.db", "build", "engine/stock/_core.c", "engine/x/_c.so"],
)
def test_build_context_leaves_out_host_state(path: str) -> None:
    assert _ignored(path)
