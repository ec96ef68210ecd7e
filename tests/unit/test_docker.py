"""The Docker build, read without a Docker engine (hadolint runs in `make lint`)."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _copied_from_context() -> list[str]:
    sources = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources.extend(shlex.split(line)[1:-1])
    return sources


def test_every_file_the_dockerfile_copies_is_in_the_build_context_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # an allow-list: .env, .venv, databases, venice-media/ never sent
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    copied = set(_copied_from_context())
    assert copied == allowed
    assert all((ROOT / source).exists() for source in copied)


def test_both_stages_use_one_pinned_image_and_the_bot_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    image = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M)
    assert image and re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", image.group(1))
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "pip install --require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "pip install --no-deps /tmp/wheels/*.whl" in dockerfile
    assert "USER 10001:10001" in dockerfile
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "tty:" not in compose and "stdin_open:" not in compose
    assert re.search(r"^\s+restart: on-failure:\d+$", compose, re.M)
