"""Submitting a cloud training job: check the form with the library's settings schema, create the model and its
queued job in one transaction; and the worker's command line and environment when the job is placed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yoloforge.platform.db import DatasetVersion, Job, Model, Project
from yoloforge.platform.executors.base import WorkerSpec
from yoloforge.platform.gpus import Catalog, GpuType
from yoloforge.platform.schemas.jobs import JobCreate
from yoloforge.platform.services import job_hooks, jobs
from yoloforge.platform.services.datasets import find_dataset, find_version
from yoloforge.platform.services.errors import Conflict, Invalid
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.services.projects import find_project

# set by the platform for every job; a user's `args` cannot change them
RESERVED = ("task", "mode", "model", "data", "project", "name", "exist_ok", "resume", "device", "cfg", "epochs",
            "imgsz", "batch")  # fmt: skip
PRETRAINED = re.compile(r"^(yolo11|yolov8)[nsmlx]$")
EARLIER = re.compile(r"^(?P<owner>[\w.-]+)/(?P<project>[\w.-]+)/(?P<model>[\w.-]+)(:(?P<kind>[\w]+))?$")


def gpu_for(catalog: Catalog, name: str) -> GpuType:
    """The catalog type `name`, when available here; Invalid (naming the choices) otherwise."""
    gpu = catalog.get(name)
    if gpu is None:
        raise Invalid(f"gpu: unknown GPU type {name!r}: choose one of {', '.join(catalog.names())}", field="gpu")
    if not catalog.available(gpu):
        usable = [t.name for t in catalog.types if catalog.available(t)]
        raise Invalid(f"gpu: GPU type {name!r} is not available on this server (available: {', '.join(usable)})",
                      field="gpu")  # fmt: skip
    return gpu


def _model_arg(value: str) -> str:
    if PRETRAINED.match(value):
        return f"{value}.pt"
    if EARLIER.match(value) or value.endswith((".yaml", ".yml", ".pt")):
        return value
    raise Invalid(
        f"model: {value!r} is not a model: use yolo11n (s, m, l, x), yolov8n..x, NAME.yaml, or OWNER/PROJECT/MODEL",
        field="model",
    )


def check_settings(body: JobCreate, data: str) -> dict[str, Any]:
    """The run's settings, checked by the library's RunConfig; Invalid names the first bad key."""
    from yoloforge.cfg.schema import RunConfig

    for key in body.args:
        if key in RESERVED:
            raise Invalid(f"args.{key} is set by the platform (use the form's own field, or none)", field=f"args.{key}")
        if key not in RunConfig.model_fields:
            raise Invalid(f"args.{key} is not a training setting of yoloforge", field=f"args.{key}")
    model = _model_arg(body.model)
    settings = {"model": model, "data": data, "epochs": body.epochs, "imgsz": body.imgsz, "batch": body.batch,
                **body.args}  # fmt: skip
    try:
        RunConfig(**{**settings, "model": "x.pt" if EARLIER.match(model) else model})
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        field = key if key in ("epochs", "imgsz", "batch", "model") else f"args.{key}"
        raise Invalid(f"{field}: {first['msg']}", field=field) from None
    return settings


@dataclass(frozen=True)
class Checked:
    """A submission that passed every check but the start gate: where it goes and what it runs."""

    project: Project
    gpu: GpuType
    version: DatasetVersion
    dataset: str  # OWNER/NAME:VERSION, the version pinned
    settings: dict[str, Any]


def check(
    session: Session, catalog: Catalog, principal: Principal, owner: str, project: str, body: JobCreate
) -> Checked:
    """Check a submission without writing: the project (write access), the GPU type, the dataset version, every
    setting, an earlier model's checkpoint. Raises NotFound, Forbidden or Invalid naming the field."""
    proj = find_project(session, principal, owner, project, write=True)
    gpu = gpu_for(catalog, body.gpu)
    ds_owner, rest = body.dataset.split("/", 1)
    ds_name, _, number = rest.partition(":")
    dataset = find_dataset(session, principal, ds_owner, ds_name)
    version = find_version(dataset, int(number) if number else None)
    settings = check_settings(body, f"yf://{ds_owner}/datasets/{ds_name}:{version.number}")
    if m := EARLIER.match(str(settings["model"])):
        from yoloforge.platform.services.models import find_checkpoint, find_model

        earlier = find_model(session, principal, m.group("owner"), m.group("project"), m.group("model"))
        find_checkpoint(earlier, m.group("kind") or "best")
    return Checked(proj, gpu, version, f"{ds_owner}/{ds_name}:{version.number}", settings)


def name_taken(session: Session, checked: Checked, name: str) -> bool:
    """Whether the project already has a model called `name`."""
    found = select(Model.id).where(Model.project_id == checked.project.id, Model.name == name)
    return session.scalar(found) is not None


def submit(
    session: Session,
    catalog: Catalog,
    principal: Principal,
    owner: str,
    project: str,
    body: JobCreate,
    *,
    max_restarts: int = 3,
) -> Job:
    """Create the model (source `cloud`) and its queued job; Conflict when the name is taken, the start gate's
    error (402) when the account may not start on the type. Commits."""
    checked = check(session, catalog, principal, owner, project, body)
    job_hooks.check_can_start(session, principal.user, checked.gpu)
    model = Model(project_id=checked.project.id, name=body.name, source="cloud", status="pending",
                  settings=checked.settings, dataset_version_id=checked.version.id)  # fmt: skip
    session.add(model)
    try:
        session.flush()
    except IntegrityError as e:
        session.rollback()
        raise Conflict(f"project {owner}/{project} already has a model named {body.name!r}", field="name") from e
    gpu = checked.gpu
    job = Job(model_id=model.id, user_id=principal.user.id, gpu_type=gpu.name, state=jobs.QUEUED,
              hourly_usd=str(Decimal(gpu.hourly_usd)), max_restarts=max_restarts)  # fmt: skip
    job.model = model
    session.add(job)
    session.flush()
    jobs.first_transition(session, job, f"submitted by {principal.user.name} for GPU type {gpu.name}")
    session.commit()
    return job


def resume(session: Session, catalog: Catalog, job: Job) -> None:
    """Queue a stopped or paused job again, after the start gate (billing's balance check). Commits."""
    gpu = catalog.get(job.gpu_type)
    if gpu is None:
        raise Invalid(f"gpu: GPU type {job.gpu_type!r} is no longer in the catalog", field="gpu")
    job_hooks.check_can_start(session, job.user, gpu)
    jobs.resume(session, job)
    session.commit()


def _cli_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def worker_spec(state: Any, job: Job, token: str) -> WorkerSpec:
    """What the worker of `job` runs: the trainer's arguments, its folder and its environment."""
    from yoloforge.platform.services.job_progress import run_dir

    model = job.model
    job_dir = state.settings.jobs_dir / str(model.id)
    job_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(model.settings)
    if EARLIER.match(str(settings.get("model", ""))):
        settings["model"] = str(_fetch_earlier(state, job_dir, str(settings["model"])))
    owner, project = model.project.owner.name, model.project.name
    args = [f"{k}={_cli_value(v)}" for k, v in settings.items()]
    args += [f"project={owner}/{project}", f"name={model.name}", "exist_ok=True"]
    pool = state.catalog.pools.get(job.pool or "")
    on_gpu = job.device is not None or (pool is not None and pool.num_gpus > 0)
    args.append("device=0" if on_gpu else "device=cpu")  # device 0: the one CUDA_VISIBLE_DEVICES leaves visible
    env = {
        "YOLOFORGE_PLATFORM_URL": state.settings.resolved_public_url,
        "YOLOFORGE_API_KEY": token,
        "YOLOFORGE_DATASETS_DIR": str(state.settings.jobs_dir / "datasets"),
        "YOLOFORGE_CONFIG_DIR": str(state.settings.jobs_dir / "config"),
        "YOLOFORGE_JOB_ID": str(job.id),
        "YOLOFORGE_PLATFORM_MODEL": str(model.id),  # the streaming client attaches its run to this model
    }
    return WorkerSpec(job_id=job.id, attempt=job.attempt, job_dir=job_dir, train_args=args,
                      run_dir=run_dir(job, state.settings.jobs_dir), env=env,
                      pool=state.catalog.pool_of(state.catalog.get(job.gpu_type)), device=job.device)  # fmt: skip


def _fetch_earlier(state: Any, job_dir: Any, ref: str) -> Any:
    """Copy an earlier model's checkpoint (OWNER/PROJECT/MODEL[:KIND], default best) into the job folder."""
    from sqlalchemy import select

    from yoloforge.platform.db import Checkpoint, Project, User

    m = EARLIER.match(ref)
    assert m is not None
    kind = m.group("kind") or "best"
    with state.db.sessions() as s:
        ckpt = s.scalar(
            select(Checkpoint).join(Model).join(Project).join(User, Project.owner_id == User.id)
            .where(User.name == m.group("owner"), Project.name == m.group("project"), Model.name == m.group("model"),
                   Checkpoint.kind == kind)
        )  # fmt: skip
        if ckpt is None:
            raise Invalid(f"model {ref!r} has no {kind!r} checkpoint", field="model")
        dest = job_dir / f"start-{kind}.pt"
        state.storage.get_file(ckpt.storage_key, dest)
    return dest
