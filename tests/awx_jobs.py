"""Jobs run as AWX runs them: a private data directory for ansible-runner (inventory, extra vars,
a project checkout of its own), credentials injected from the credential types this collection
ships (extensions/awx/controller_configuration.yml) the way AWX renders them, and the job's
events and artifacts read back as AWX stores them.

The injection follows AWX's CredentialType.inject_credential (awx/main/models/credential/__init__.py):
only non-empty inputs enter the template namespace, file injectors are rendered into files under
the private data directory's env/ and named by tower.filename.<label>, env injectors are rendered
with Jinja's ImmutableSandboxedEnvironment."""
import glob
import json
import os
import stat
import sys
import tempfile

import yaml
from jinja2 import sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTROLLER_CONFIGURATION = os.path.join(ROOT, "extensions", "awx", "controller_configuration.yml")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")


def controller_configuration():
    with open(CONTROLLER_CONFIGURATION) as handle:
        return yaml.safe_load(handle)


def credential_type(name):
    for entry in controller_configuration()["controller_credential_types"]:
        if entry["name"] == name:
            return entry
    raise KeyError(name)


class _Namespace:
    pass


def inject(cred_type, inputs, private_data_dir):
    """The environment variables a credential of ``cred_type`` with ``inputs`` gives a job."""
    tower = _Namespace()
    namespace = {"tower": tower}
    for field in cred_type["inputs"]["fields"]:
        value = inputs.get(field["id"])
        if field.get("type") == "boolean":
            namespace[field["id"]] = bool(value)
        elif value:
            namespace[field["id"]] = value
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    renderer = sandbox.ImmutableSandboxedEnvironment()
    for label, template in (cred_type.get("injectors", {}).get("file") or {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as out:
            out.write(renderer.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = _Namespace()
            setattr(tower.filename, label.split(".", 1)[1], path)
    return {name: renderer.from_string(template).render(**namespace)
            for name, template in (cred_type.get("injectors", {}).get("env") or {}).items()}


def private_data_dir(base, inventory):
    """A private data directory with ``inventory`` and a project of its own (this collection's
    playbooks): each job starts from a fresh checkout, as in AWX, and keeps nothing of another's."""
    os.makedirs(os.path.join(base, "inventory"))
    os.makedirs(os.path.join(base, "project"))
    with open(os.path.join(base, "inventory", "hosts.json"), "w") as handle:
        json.dump(inventory, handle)
    os.symlink(os.path.join(ROOT, "playbooks"), os.path.join(base, "project", "playbooks"))
    return base


EE_IMAGE = "localhost/zdt-ee:latest"  # make ee-image


def run_job(base, playbook, extravars, envvars, ident, verbosity=3, timeout=600, container_mounts=None):
    """Run ``playbook`` of the project with ansible-runner; return (status, rc, artifacts, text of
    every job event and of stdout, stdout) - the artifacts are what set_stats handed over, which AWX
    keeps with the job and passes to the next node of a workflow.

    With ``container_mounts`` (host paths the job needs: a lab's workdir), the job runs inside the
    execution environment image with podman (--process-isolation), as AWX runs it, on the host's
    network (the labs listen on loopback) and with this checkout's collection mounted over the
    image's."""
    import ansible_runner

    env = dict(envvars, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False")
    options = {}
    if container_mounts is None:
        # the ansible-playbook of this Python (an execution environment has one on its PATH)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    else:
        options = dict(process_isolation=True, process_isolation_executable="podman", container_image=EE_IMAGE,
                       container_options=["--network=host", "--user=0"],
                       container_volume_mounts=["%s:%s:ro" % (ROOT, ROOT)] + ["%s:%s" % (path, path) for path in container_mounts])
    result = ansible_runner.run(private_data_dir=base, playbook=playbook, inventory=os.path.join(base, "inventory", "hosts.json"),
                                extravars=extravars, envvars=env, ident=ident, verbosity=verbosity, quiet=True, timeout=timeout,
                                **options)
    artifacts = {}
    texts = []
    for path in sorted(glob.glob(os.path.join(base, "artifacts", ident, "job_events", "*.json"))):
        with open(path) as handle:
            text = handle.read()
        texts.append(text)
        event = json.loads(text)
        if event.get("event") == "playbook_on_stats":
            artifacts = event.get("event_data", {}).get("artifact_data") or {}
    with open(os.path.join(base, "artifacts", ident, "stdout")) as handle:
        stdout = handle.read()
    return result.status, result.rc, artifacts, "\n".join(texts + [stdout]), stdout
