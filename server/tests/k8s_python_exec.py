"""Exec into a local-cluster pod with the official Python client (v4 protocol).

Usage: k8s_python_exec.py KUBECONFIG POD
Prints stdout=<text> and returncode=<n>.
"""
import sys

from kubernetes import client, config
from kubernetes.stream import stream

config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
resp = stream(
    api.connect_get_namespaced_pod_exec,
    sys.argv[2],
    "shop-production",
    container="web",
    command=["sh", "-c", "echo from-python; exit 5"],
    stderr=True,
    stdin=False,
    stdout=True,
    tty=False,
    _preload_content=False,
)
resp.run_forever(timeout=20)
print("stdout=" + resp.read_stdout().strip())
print("returncode=" + str(resp.returncode))
