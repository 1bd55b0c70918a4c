"""The cluster configs in cluster/, checked offline: Ray's own schema and prepare/validate functions for the
cluster-launcher YAMLs, the fields KubeRay requires for the RayCluster and RayJob manifests, and the project's own
rules (Ray version, the node image, token auth, no credentials, nothing bound to a public interface). Each check is also shown to
reject a deliberately broken copy, so a check that can never fail would be noticed.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray")
jsonschema = pytest.importorskip("jsonschema")
from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"
LAUNCHER_YAMLS = ("gpu.yaml", "local.yaml")
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


def check_launcher(config: dict) -> dict:
    """What `ray up` does before it touches a cloud: schema (unknown keys fail), prepare, validate."""
    jsonschema.validate(config, SCHEMA)
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.mark.parametrize("name", LAUNCHER_YAMLS)
def test_launcher_yaml_passes_rays_schema_and_validation(name):
    prepared = check_launcher(load(name))
    assert prepared["head_node_type"] in prepared["available_node_types"]


def _typo_top_level(c):
    c["setup_command"] = c.pop("setup_commands")


def _typo_in_node_type(c):
    c["available_node_types"]["gpu_1x_a10g"]["min_worker"] = 0


def _negative_resource(c):
    c["available_node_types"]["gpu_8x_a100"]["resources"]["GPU"] = -8


def _ssh_port_option(c):
    c["auth"]["ssh_port"] = 2222  # the schema has no such option: sshd must be on 22 or behind a proxy command


def _head_not_a_type(c):
    c["head_node_type"] = "head-typo"


def _min_over_max(c):
    c["available_node_types"]["gpu_1x_a10g"]["min_workers"] = 20


@pytest.mark.parametrize(
    ("name", "break_it", "error"),
    [
        ("gpu.yaml", _typo_top_level, jsonschema.ValidationError),
        ("gpu.yaml", _typo_in_node_type, jsonschema.ValidationError),
        ("gpu.yaml", _negative_resource, jsonschema.ValidationError),
        ("local.yaml", _ssh_port_option, jsonschema.ValidationError),
        ("gpu.yaml", _head_not_a_type, ValueError),
        ("gpu.yaml", _min_over_max, ValueError),
    ],
)
def test_a_broken_copy_is_rejected(name, break_it, error):
    config = load(name)
    break_it(config)
    with pytest.raises(error):
        check_launcher(config)


RAY_IMAGE = f"rayproject/ray:{ray.__version__}-py311-cu130"  # the Ray and CUDA of the project (torch 2.13.0 wheels)


def node_image_tag() -> str:
    """The tag cluster/Dockerfile's image carries: selfre version, Ray version, CUDA of the base image."""
    version = re.search(r'^version = "([^"]+)"', (CLUSTER.parent / "pyproject.toml").read_text(), re.M).group(1)
    return f"{version}-ray{ray.__version__}-cu130"


def node_image(config: dict) -> str:
    return config["docker"]["image"]


def check_gpu_yaml(config: dict) -> None:
    image = node_image(config)
    # Ray's stock image (node_setup.sh installs selfre at boot) or cluster/Dockerfile's (selfre already in it).
    assert image == RAY_IMAGE or image.split("/")[-1] == f"selfre:{node_image_tag()}", (
        f"{image}: not a node image of this release"
    )
    types = copy.deepcopy(config["available_node_types"])
    head = types.pop(config["head_node_type"])
    assert head["resources"] == {"CPU": 0}, "trials must never run on the head"
    assert types and all(t["min_workers"] == 0 and t["resources"].get("GPU", 0) >= 1 for t in types.values())
    assert all(t["node_config"].get("IamInstanceProfile") for t in types.values()), "workers read S3 via a profile"
    assert sum(t["max_workers"] for t in types.values()) <= config["max_workers"]
    market = {name: t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") for name, t in types.items()}
    spot = [name for name, m in market.items() if m == "spot"]
    assert spot and all(types[name]["max_workers"] > 0 for name in spot), "spot workers are enabled"
    for name in spot:
        # The same machine on demand is launched first, so the search never waits on spot capacity alone.
        twins = [
            n
            for n, t in types.items()
            if market[n] != "spot"
            and t["node_config"]["InstanceType"] == types[name]["node_config"]["InstanceType"]
            and t["resources"] == types[name]["resources"]
        ]
        assert twins and all(types[t]["max_workers"] > 0 for t in twins), f"{name}: no on-demand floor"
        assert all(types[t].get("priority", 0) > types[name].get("priority", 0) for t in twins), (
            f"{name}: launched first"
        )


def test_gpu_yaml_matches_the_project():
    check_gpu_yaml(load("gpu.yaml"))
    assert f"FROM {RAY_IMAGE}\n" in (CLUSTER / "Dockerfile").read_text(), "the node image is built on the project's Ray"
    # The image's install stamp is the one node_setup.sh checks, so nodes started from it skip the boot install.
    setup = (CLUSTER / "node_setup.sh").read_text()
    assert 'stamp="$HOME/.selfre-installed"' in setup and '"$commit $python"' in setup
    assert 'print(c, "python3")\' \\\n    > /home/ray/.selfre-installed' in (CLUSTER / "Dockerfile").read_text()


def setup_ref(config: dict) -> str:
    return next(c.split("node_setup.sh ")[1].split()[0] for c in config["setup_commands"] if "node_setup.sh " in c)


def test_gpu_yaml_needs_no_edit():
    """What a new user has after `git clone` and `python cluster/make_secrets.py` is all `ray up` needs: Ray's
    own image (nothing to build or push), the commit of the checkout (no tag), mounts from inside the repository."""
    config = load("gpu.yaml")
    assert node_image(config) == RAY_IMAGE
    assert setup_ref(config) == "HEAD"
    assert config["file_mounts"] == {"~/selfre-src": ".", "~/.selfre/secrets": "cluster/secrets"}
    assert (CLUSTER / "secrets").is_dir(), "the secrets folder exists in every clone (its README is tracked)"
    assert not re.search(r"YOUR-|EDIT|CHANGE ?ME|<[a-z-]+>", (CLUSTER / "gpu.yaml").read_text())


def test_the_node_image_is_one_edit_away():
    config = load("gpu.yaml")
    config["docker"]["image"] = f"ghcr.io/me/selfre:{node_image_tag()}"
    check_launcher(config)
    check_gpu_yaml(config)


def _spot_only(c):
    c["available_node_types"]["gpu_1x_a10g"]["max_workers"] = 0


def _spot_first(c):
    c["available_node_types"]["gpu_1x_a10g_spot"]["priority"] = 5


def _spot_off(c):
    c["available_node_types"]["gpu_1x_a10g_spot"]["max_workers"] = 0


def _another_ray(c):
    c["docker"]["image"] = "rayproject/ray:2.50.0-py311-cu130"


def _image_of_another_release(c):
    c["docker"]["image"] = f"ghcr.io/me/selfre:0.0.9-ray{ray.__version__}-cu130"


@pytest.mark.parametrize("break_it", [_spot_only, _spot_first, _spot_off, _another_ray, _image_of_another_release])
def test_a_gpu_yaml_against_the_project_rules_is_rejected(break_it):
    config = load("gpu.yaml")
    break_it(config)
    check_launcher(config)  # still a valid cluster config for Ray: only the project's rules catch these
    with pytest.raises(AssertionError):
        check_gpu_yaml(config)


@pytest.mark.parametrize("name", LAUNCHER_YAMLS)
def test_launcher_yaml_keeps_services_private_and_token_auth_on(name):
    config = load(name)
    start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in start and "0.0.0.0" not in yaml.safe_dump(config)
    assert config["file_mounts"]["~/.selfre/secrets"] == "cluster/secrets", "the secrets travel by file, not YAML"
    assert any("node_setup.sh" in cmd for cmd in config["setup_commands"])
    setup = (CLUSTER / "node_setup.sh").read_text()
    assert "export RAY_AUTH_MODE=token" in setup, "every node's login shell must run Ray with token auth"


def test_kuberay_manifest_has_what_kuberay_requires():
    check_kuberay(load("kuberay.yaml"))


def test_rayjob_manifest_has_what_kuberay_requires():
    check_rayjob(load("kuberay-job.yaml"))


def _submitter_without_token(m):
    m["spec"]["submitterPodTemplate"]["spec"]["containers"][0]["env"] = []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda m: m.update(kind="RayCluster"),
        lambda m: m["spec"].pop("entrypoint"),
        lambda m: m["spec"].update(entrypoint="python train.py"),
        lambda m: m["spec"].update(shutdownAfterJobFinishes=False),  # idle GPU pods would outlive the search
        lambda m: m["spec"].update(ttlSecondsAfterFinished="600"),
        lambda m: m["spec"].update(activeDeadlineSeconds=0),
        lambda m: m["spec"]["submitterPodTemplate"]["spec"].update(restartPolicy="Always"),  # a Job refuses Always
        _submitter_without_token,
        lambda m: m["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].pop("groupName"),  # the cluster rules apply too
        lambda m: m["spec"]["rayClusterSpec"].update(rayVersion="2.9.0"),
        lambda m: m["metadata"].update(name="selfre-search-" + "x" * 40),  # KubeRay derives longer names from it
    ],
)
def test_a_broken_rayjob_manifest_is_rejected(break_it):
    manifest = copy.deepcopy(load("kuberay-job.yaml"))
    break_it(manifest)
    with pytest.raises(AssertionError):
        check_rayjob(manifest)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda m: m.update(apiVersion="ray.io/v1alpha1"),
        lambda m: m["spec"]["headGroupSpec"].pop("template"),
        lambda m: m["spec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}),  # must be strings
        lambda m: m["spec"]["workerGroupSpecs"][0].pop("groupName"),
        lambda m: m["spec"]["workerGroupSpecs"][0].update(minReplicas=9),
        lambda m: m["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"].pop(
            "nvidia.com/gpu"
        ),
        lambda m: m["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"][1].update(value="s3cr3t"),
        lambda m: m["spec"]["headGroupSpec"].update(serviceType="LoadBalancer"),
        lambda m: m["spec"].update(rayVersion="2.9.0"),
    ],
)
def test_a_broken_kuberay_manifest_is_rejected(break_it):
    manifest = copy.deepcopy(load("kuberay.yaml"))
    break_it(manifest)
    with pytest.raises(AssertionError):
        check_kuberay(manifest)


def need(mapping: dict, key: str):
    """A field KubeRay requires: missing is a failed check (AssertionError), not a KeyError."""
    assert isinstance(mapping, dict) and key in mapping, f"required field {key!r} is missing"
    return mapping[key]


def check_kuberay(m: dict) -> None:
    """The fields the ray.io/v1 RayCluster CRD requires, plus this project's rules (GPU group, token, private)."""
    assert need(m, "apiVersion") == "ray.io/v1" and need(m, "kind") == "RayCluster"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", need(need(m, "metadata"), "name")), "not a DNS-1123 name"
    check_ray_cluster_spec(need(m, "spec"))


def check_rayjob(m: dict) -> None:
    """The ray.io/v1 RayJob: a search as its entrypoint, a cluster spec held to the RayCluster rules, a submitter
    that can authenticate, and a cluster that goes away when the search ends."""
    assert need(m, "apiVersion") == "ray.io/v1" and need(m, "kind") == "RayJob"
    name = need(need(m, "metadata"), "name")
    # KubeRay names the cluster and the submitter Job after the RayJob, with suffixes: it refuses names over 47.
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 47, "not a usable RayJob name"
    spec = need(m, "spec")
    assert need(spec, "entrypoint").startswith("selfre search "), "the batch job runs a search"
    assert "--address auto" in spec["entrypoint"], "the search must join the RayJob's cluster, not start its own"
    assert need(spec, "shutdownAfterJobFinishes") is True
    ttl, deadline = spec.get("ttlSecondsAfterFinished", 0), spec.get("activeDeadlineSeconds")
    assert type(ttl) is int and ttl >= 0, "ttlSecondsAfterFinished must be an integer >= 0"
    assert deadline is None or (type(deadline) is int and deadline > 0), "activeDeadlineSeconds must be an integer > 0"
    submitter = need(need(spec, "submitterPodTemplate"), "spec")
    assert submitter.get("restartPolicy") in ("Never", "OnFailure"), "the submitter runs as a Kubernetes Job"
    [container] = need(submitter, "containers")
    assert "command" not in container, "KubeRay writes the submit command only when none is given"
    check_ray_container(container)  # it talks to the head's job API, which wants the token
    check_ray_cluster_spec(need(spec, "rayClusterSpec"))


def check_ray_container(container: dict) -> None:
    assert container.get("name") and ray.__version__ in need(container, "image"), (
        "the image must carry the project's Ray"
    )
    env = {e["name"]: e for e in container.get("env", [])}
    assert need(env, "RAY_AUTH_MODE").get("value") == "token"
    token = need(env, "RAY_AUTH_TOKEN")
    assert "value" not in token and token["valueFrom"]["secretKeyRef"], "the token comes from a Secret only"
    for name, var in env.items():
        assert "PASSWORD" not in name or "value" not in var, f"{name}: secrets come from a Secret only"


def check_ray_cluster_spec(spec: dict) -> None:
    assert need(spec, "rayVersion") == ray.__version__
    head = need(spec, "headGroupSpec")
    assert head.get("serviceType", "ClusterIP") == "ClusterIP", "the head must not be exposed outside the cluster"
    workers = need(spec, "workerGroupSpecs")
    for group in [head, *workers]:
        params = need(group, "rayStartParams")  # required by older CRDs, accepted (may be empty) by newer ones
        assert all(isinstance(v, str) for v in params.values()), "rayStartParams values must be strings"
        containers = need(need(need(group, "template"), "spec"), "containers")
        assert containers and all(c.get("name") and c.get("image") for c in containers)
        check_ray_container(containers[0])  # KubeRay runs Ray in the first container
    names = [need(g, "groupName") for g in workers]
    assert len(names) == len(set(names)), "groupName must be unique"
    gpu_groups = 0
    for group in workers:
        low, high = need(group, "minReplicas"), need(group, "maxReplicas")
        assert 0 <= low <= group.get("replicas", low) <= high
        resources = group["template"]["spec"]["containers"][0].get("resources", {})
        if "nvidia.com/gpu" in resources.get("limits", {}):
            gpu_groups += 1
            # Kubernetes requires requests == limits for extended resources such as GPUs.
            assert resources.get("requests", {}).get("nvidia.com/gpu") in (None, resources["limits"]["nvidia.com/gpu"])
    assert gpu_groups >= 1, "at least one worker group must request nvidia.com/gpu"


# A value written out, not one taken from a shell variable (`X_PASSWORD="$Y"` passes a secret along, holds none).
SECRET_LIKE = re.compile(
    r"AKIA[0-9A-Z]{16}|aws_secret_access_key|BEGIN [A-Z ]*PRIVATE KEY|(AWS_SECRET_ACCESS_KEY|password)\s*[:=]\s*(?![\"']?\$)",
    re.IGNORECASE,
)


def test_the_credential_check_tells_literals_from_references():
    assert SECRET_LIKE.search("MLFLOW_TRACKING_PASSWORD=hunter2") and SECRET_LIKE.search("password: hunter2")
    assert SECRET_LIKE.search("AWS_SECRET_ACCESS_KEY = abc") and SECRET_LIKE.search("key: AKIAABCDEFGHIJKLMNOP")
    assert not SECRET_LIKE.search('MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_TRACKING_PASSWORD" mlflow server')


def test_no_credentials_in_any_cluster_file():
    for path in CLUSTER.iterdir():
        if path.is_file():
            assert not SECRET_LIKE.search(path.read_text()), f"{path.name} looks like it holds a credential"


def aws_walkthrough() -> str:
    text = (CLUSTER / "README.md").read_text()
    return text[text.index("## AWS: `gpu.yaml`") : text.index("\n## ", text.index("## AWS: `gpu.yaml`") + 1)]


def test_the_readme_starts_with_the_aws_walkthrough_and_it_edits_nothing():
    """The first section a reader follows: its commands name files that exist, in the order they are needed,
    and the region and key of gpu.yaml; nothing asks for an edit or a tag."""
    text = (CLUSTER / "README.md").read_text()
    assert text.index("## AWS: `gpu.yaml`") == text.index("\n## ") + 1, "the AWS walk-through is the first section"
    section = aws_walkthrough()
    code = "\n".join(re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S))
    made = {"cluster/secrets/auth_token", "cluster/secrets/mlflow.env"}  # by make_secrets.py, the first command
    for path in set(re.findall(r"\bcluster/[\w./-]+", code)) - made:
        assert (CLUSTER.parent / path.rstrip("/.")).exists(), (
            f"{path}: named by the walk-through, not in the repository"
        )
    assert code.index("python cluster/make_secrets.py") < code.index("ray up cluster/gpu.yaml -y")
    region = load("gpu.yaml")["provider"]["region"]
    assert f"--region {region}" in code and f"ray-autoscaler_{region}.pem" in code
    assert not re.search(r"git tag|YOUR-|\bEDIT\b|edit `|docker (build|push)", code), (
        "the zero-edit path builds and edits nothing"
    )
    assert "RAY_AUTH_TOKEN_PATH=$PWD/cluster/secrets/auth_token" in code  # the client's token is the cluster's
