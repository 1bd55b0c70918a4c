"""Every container image the deployment files name is pinned to a version: no `latest`, no missing tag.

An unpinned image changes under a running deployment (a rebuilt node, a restarted container pulls whatever
`latest` is that day), so a cluster or tracking server could differ from the one that was tested. Checked:
image fields in cluster/*.yaml and mlflow/docker-compose.yml (at any depth: launcher `docker:` sections, Kubernetes
containers, compose services) and the FROM lines of every Dockerfile.
"""

from __future__ import annotations

import re

import pytest
import yaml
from support import REPO

IMAGE_KEYS = ("image", "head_image", "worker_image")


def pin_problem(ref: str) -> str | None:
    """Why `ref` is not pinned, or None. A digest pins; otherwise a tag other than latest must follow the name."""
    if "@sha256:" in ref:
        return None
    name = ref.rsplit("/", 1)[-1]  # a registry's port (localhost:5000/x) is not a tag
    if ":" not in name:
        return "no tag (means latest)"
    if "latest" in name.split(":", 1)[1]:
        return "a latest tag"
    return None


def yaml_images(node) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in IMAGE_KEYS and isinstance(v, str)]
        return found + [img for v in node.values() for img in yaml_images(v)]
    if isinstance(node, list):
        return [img for v in node for img in yaml_images(v)]
    return []


def dockerfile_images(text: str) -> list[str]:
    # FROM [--platform=...] IMAGE [AS stage]
    return [m.group(1) for m in re.finditer(r"^FROM\s+(?:--\S+\s+)*(\S+)", text, re.M | re.I)]


def all_images() -> dict[str, list[str]]:
    found = {}
    for path in [*sorted((REPO / "cluster").glob("*.yaml")), REPO / "mlflow" / "docker-compose.yml"]:
        found[str(path.relative_to(REPO))] = [
            i for doc in yaml.safe_load_all(path.read_text()) for i in yaml_images(doc)
        ]
    for path in sorted(REPO.glob("**/Dockerfile*")):
        if ".venv" not in path.parts:
            found[str(path.relative_to(REPO))] = dockerfile_images(path.read_text())
    return found


def test_every_image_is_pinned():
    found = all_images()
    # Each file that starts containers names at least one image: a parser that finds none would pass vacuously.
    for name in (
        "cluster/gpu.yaml",
        "cluster/kuberay.yaml",
        "cluster/kuberay-job.yaml",
        "cluster/Dockerfile",
        "mlflow/docker-compose.yml",
        "mlflow/Dockerfile",
    ):
        assert found.get(name), f"{name}: no image found"
    problems = [f"{file}: {img}: {why}" for file, imgs in found.items() for img in imgs if (why := pin_problem(img))]
    assert problems == []


@pytest.mark.parametrize(
    ("ref", "pinned"),
    [
        ("postgres:16.10", True),
        ("ghcr.io/YOUR-ORG/selfre:0.1.0-ray2.60.0-cu130", True),
        ("localhost:5000/selfre:1.0", True),
        ("python@sha256:" + "0" * 64, True),
        ("minio/minio", False),
        ("minio/minio:latest", False),
        ("rayproject/ray:latest-gpu", False),
        ("localhost:5000/selfre", False),
    ],
)
def test_pin_check_tells_pinned_from_floating(ref, pinned):
    assert (pin_problem(ref) is None) == pinned


def test_images_are_found_where_deployments_name_them():
    compose = {"services": {"a": {"image": "minio/minio:latest"}, "b": {"build": "."}}}
    pod = {"spec": {"containers": [{"name": "x", "image": "ray:1"}], "initContainers": [{"image": "busybox"}]}}
    launcher = {
        "docker": {"image": "a:1", "worker_image": "b:2"},
        "available_node_types": {"t": {"docker": {"worker_image": "c"}}},
    }
    assert yaml_images(compose) == ["minio/minio:latest"]
    assert sorted(yaml_images(pod)) == ["busybox", "ray:1"]
    assert sorted(yaml_images(launcher)) == ["a:1", "b:2", "c"]
    assert dockerfile_images("FROM --platform=linux/amd64 python:3.11 AS build\nRUN x\nfrom ubuntu\n") == [
        "python:3.11",
        "ubuntu",
    ]
