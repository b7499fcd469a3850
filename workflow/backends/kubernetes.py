"""The Kubernetes backend: one batch/v1 Job per task attempt, watched through the API server.

Uses the official `kubernetes` client. A task becomes a Job (see `kube_objects`) created in the
configured namespace; its handle polls the Job's status (`succeeded` / `failed` / conditions)
and, when it is over, copies the pod's log into the task's log file. A serving task becomes a
Deployment + Service + HorizontalPodAutoscaler and succeeds once the Deployment has a ready
replica; those keep running after the flow. Client exceptions are wrapped into `BackendError`
here, once. Tests drive this module against a local HTTP double of the API server.
"""

from __future__ import annotations

import time
from typing import Any

from workflow.backends.base import Launch, Outcome, task_env
from workflow.backends.kube_objects import (
    KubeOptions,
    deployment_manifest,
    hpa_manifest,
    job_manifest,
    k8s_name,
    pod_spec,
    service_manifest,
)
from workflow.errors import BackendError

__all__ = ["KubernetesBackend"]


def _client() -> Any:
    import kubernetes.client

    return kubernetes.client


def _api_error(action: str, e: Exception) -> BackendError:
    status = getattr(e, "status", None)
    reason = getattr(e, "reason", None) or str(e)
    return BackendError(f"kubernetes: {action} failed" + (f" ({status} {reason})" if status else f": {reason}"))


class _JobHandle:
    def __init__(self, backend: KubernetesBackend, name: str, launch: Launch) -> None:
        self.backend = backend
        self.name = name
        self.launch = launch
        self.pid: int | None = None
        self._next = 0.0

    def poll(self) -> Outcome | None:
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.backend.poll_seconds
        ns = self.backend.opts.namespace
        try:
            job = self.backend.batch.read_namespaced_job_status(self.name, ns)
        except Exception as e:  # ApiException, urllib3 errors
            raise _api_error(f"reading Job {ns}/{self.name}", e) from e
        status = job.status
        conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"} if status else {}
        if status is not None and (status.succeeded or 0) >= 1 or "Complete" in conditions:
            self._copy_logs()
            return Outcome(True, 0, f"Job {self.name} complete")
        if status is not None and (status.failed or 0) >= 1 or "Failed" in conditions:
            self._copy_logs()
            cond = conditions.get("Failed")
            why = f": {cond.reason} {cond.message or ''}".rstrip() if cond is not None and cond.reason else ""
            return Outcome(False, None, f"Job {self.name} failed{why}")
        return None

    def _copy_logs(self) -> None:
        ns = self.backend.opts.namespace
        path = self.launch.log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"== {self.launch.task.name} attempt {self.launch.attempt}: Job {ns}/{self.name}\n")
            try:
                pods = self.backend.core.list_namespaced_pod(ns, label_selector=f"job-name={self.name}")
                for pod in pods.items:
                    fh.write(self.backend.core.read_namespaced_pod_log(pod.metadata.name, ns) or "")
            except Exception as e:
                fh.write(f"(could not read pod logs: {_api_error('reading logs', e)})\n")

    def cancel(self) -> None:
        try:
            self.backend.batch.delete_namespaced_job(self.name, self.backend.opts.namespace, propagation_policy="Background")
        except Exception as e:
            raise _api_error(f"deleting Job {self.name}", e) from e


class _DeploymentHandle:
    def __init__(self, backend: KubernetesBackend, name: str, deadline: float) -> None:
        self.backend = backend
        self.name = name
        self.pid: int | None = None
        self.deadline = deadline
        self._next = 0.0

    def poll(self) -> Outcome | None:
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.backend.poll_seconds
        try:
            dep = self.backend.apps.read_namespaced_deployment_status(self.name, self.backend.opts.namespace)
        except Exception as e:
            raise _api_error(f"reading Deployment {self.name}", e) from e
        if dep.status is not None and (dep.status.ready_replicas or 0) >= 1:
            return Outcome(True, None, f"Deployment {self.name} ready ({dep.status.ready_replicas} replicas)")
        if now > self.deadline:
            return Outcome(False, None, f"Deployment {self.name} not ready in time")
        return None

    def cancel(self) -> None:
        try:
            self.backend.apps.delete_namespaced_deployment(self.name, self.backend.opts.namespace)
        except Exception as e:
            raise _api_error(f"deleting Deployment {self.name}", e) from e


class KubernetesBackend:
    """Launches tasks as Jobs (or serving Deployments) through the Kubernetes API."""

    name = "kubernetes"

    def __init__(self, opts: KubeOptions, *, api_client: Any = None, kubeconfig: str | None = None,
                 image: str | None = None, poll_seconds: float = 2.0) -> None:
        self.opts = opts
        self.mount_root: str | None = opts.mount_root
        self.provided = {"python": opts.base_python}
        self.poll_seconds = poll_seconds
        self.image = image
        self.created: list[dict[str, Any]] = []
        client = _client()
        if api_client is None:
            import kubernetes.config

            try:
                kubernetes.config.load_kube_config(config_file=kubeconfig)
            except Exception:
                try:
                    kubernetes.config.load_incluster_config()
                except Exception as e:
                    raise BackendError(f"kubernetes: no kubeconfig and not in a cluster: {e}") from e
            api_client = client.ApiClient()
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)

    def manifests(self, launch: Launch) -> list[dict[str, Any]]:
        """The objects `launch` would create (also used by tests to validate them)."""
        task = launch.task
        env = task_env(launch, artifacts="/artifacts")
        image = task.image or self.image or launch.flow.image
        run_key = launch.run_id.split("-")[-1]
        if task.serve is None:
            spec = pod_spec(task, launch.placement, launch.composed, image=image, env=env, opts=self.opts)
            name = k8s_name(launch.flow.name, task.name, run_key, f"a{launch.attempt}")
            return [job_manifest(name, spec, flow=launch.flow.name, task=task, run=launch.run_id, opts=self.opts)]
        spec = pod_spec(task, launch.placement, launch.composed, image=image, env=env, opts=self.opts, restart_policy="Always")
        name = k8s_name(launch.flow.name, task.name)
        kw = {"flow": launch.flow.name, "task": task, "run": launch.run_id, "opts": self.opts}
        return [deployment_manifest(name, spec, **kw), service_manifest(name, **kw), hpa_manifest(name, **kw)]

    def _create(self, obj: dict[str, Any]) -> None:
        ns = self.opts.namespace
        kind = obj["kind"]
        create = {
            "Job": self.batch.create_namespaced_job,
            "Deployment": self.apps.create_namespaced_deployment,
            "Service": self.core.create_namespaced_service,
            "HorizontalPodAutoscaler": self.autoscaling.create_namespaced_horizontal_pod_autoscaler,
        }[kind]
        patch = {
            "Deployment": self.apps.patch_namespaced_deployment,
            "Service": self.core.patch_namespaced_service,
            "HorizontalPodAutoscaler": self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
        }.get(kind)
        try:
            create(ns, obj)
        except Exception as e:
            if getattr(e, "status", None) == 409 and patch is not None:
                try:
                    patch(obj["metadata"]["name"], ns, obj)
                except Exception as e2:
                    raise _api_error(f"updating {kind} {obj['metadata']['name']}", e2) from e2
            else:
                raise _api_error(f"creating {kind} {obj['metadata']['name']}", e) from e
        self.created.append(obj)

    def launch(self, launch: Launch) -> _JobHandle | _DeploymentHandle:
        objs = self.manifests(launch)
        for obj in objs:
            self._create(obj)
        name = objs[0]["metadata"]["name"]
        if launch.task.serve is None:
            return _JobHandle(self, name, launch)
        return _DeploymentHandle(self, name, time.monotonic() + launch.task.serve.startup_timeout)

    def close(self) -> None:
        """Nothing to stop: Jobs finish on their own and serving Deployments outlive the run."""
