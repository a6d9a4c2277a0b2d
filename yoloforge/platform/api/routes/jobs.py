"""Cloud training: submit a model for the platform to train, follow its job, stop, resume or cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from yoloforge.platform.api.deps import CurrentUser, SessionDep, StateDep, needs
from yoloforge.platform.api.params import ModelPath, OwnerPath, ProjectPath
from yoloforge.platform.db import Job
from yoloforge.platform.schemas.jobs import JobCreate, JobPublic, SubmissionPreview, SubmittedModel, TransitionPublic
from yoloforge.platform.services import job_preview, job_runs, job_submit, jobs
from yoloforge.platform.services.errors import ServiceError
from yoloforge.platform.services.models import find_model
from yoloforge.platform.state import PlatformState


class RemoteStopAsked(ServiceError):
    """A remote model (trained on the user's machine) has no job: its run was asked to stop instead."""

    status = 202


router = APIRouter(prefix="/projects/{owner}/{project}/models", tags=["jobs"])


def job_public(session: SessionDep, job: Job) -> JobPublic:
    fields = {k: getattr(job, k) for k in JobPublic.model_fields if k not in ("queue_position", "transitions")}
    return JobPublic(
        **fields,
        queue_position=jobs.queue_position(session, job),
        transitions=[TransitionPublic.model_validate(t) for t in job.transitions],
    )


def _poke(state: PlatformState) -> None:
    if state.runner is not None:
        state.runner.poke()


DRY_RUN = Query(description="Check everything and answer the estimate (200, SubmissionPreview); create nothing.")


@router.post(
    "", status_code=201,
    responses={200: {"model": SubmissionPreview, "description": "dry_run=true: the checked submission, not created"}},
    **needs("train"),
)  # fmt: skip
def submit_model(
    owner: OwnerPath, project: ProjectPath, body: JobCreate, principal: CurrentUser, session: SessionDep,
    state: StateDep, dry_run: Annotated[bool, DRY_RUN] = False,
) -> SubmittedModel:  # fmt: skip
    """Train a new model on the platform: it is queued for its GPU type and starts when a slot and the account's
    quota allow (one running job per account by default). Every setting is checked by the library's schema.
    With `dry_run=true` nothing is created: the answer (200) says whether it may start, the jobs waiting for the
    GPU type, and the cost estimate as a range."""
    if dry_run:
        found = job_preview.preview(session, state.catalog, principal, owner, project, body)
        preview = SubmissionPreview.of(owner, project, body.name, found)
        return JSONResponse(preview.model_dump(mode="json"))  # type: ignore[return-value]
    job = job_submit.submit(session, state.catalog, principal, owner, project, body,
                            max_restarts=state.settings.max_restarts)  # fmt: skip
    if state.runner is not None and state.settings.jobs_scheduler:
        state.runner.place_next()  # start now when a slot is free (a database transaction: never twice)
    session.refresh(job)
    url = f"/api/v1/projects/{owner}/{project}/models/{body.name}"
    return SubmittedModel(owner=owner, project=project, name=body.name, url=url, job=job_public(session, job))


@router.get("/{name}/job", **needs("read"))
def get_job(
    owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep
) -> JobPublic:
    """The model's job: its state, queue position, attempts and every state change with its time and reason."""
    model = find_model(session, principal, owner, project, name)
    return job_public(session, jobs.job_of(session, model))


def _end(session: SessionDep, state: PlatformState, principal: CurrentUser, path: tuple[str, str, str], want: str,
         ) -> JobPublic:  # fmt: skip
    model = find_model(session, principal, *path, write=True)
    if want == "stop" and jobs.find_job(session, model) is None and job_runs.request_remote_stop(session, model):
        raise RemoteStopAsked(f"stop sent to the remote run of model {model.name!r}")
    job = jobs.job_of(session, model)
    jobs.request_end(session, job, want, f"{want} requested by {principal.user.name}")
    session.commit()
    _poke(state)
    return job_public(session, job)


@router.post("/{name}/stop", **needs("train"))
def stop_model(
    owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep,
    state: StateDep,
) -> JobPublic:  # fmt: skip
    """Stop the training: the trainer finishes its batch, saves a resumable checkpoint and exits; the job becomes
    `stopped` (a queued job at once) and can be resumed."""
    return _end(session, state, principal, (owner, project, name), "stop")


@router.post("/{name}/cancel", **needs("train"))
def cancel_model(
    owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep,
    state: StateDep,
) -> JobPublic:  # fmt: skip
    """Cancel a queued, running, stopped or paused job for good (it cannot be resumed)."""
    return _end(session, state, principal, (owner, project, name), "cancel")


@router.post("/{name}/resume", **needs("train"))
def resume_model(
    owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep,
    state: StateDep,
) -> JobPublic:  # fmt: skip
    """Queue a stopped or paused job again: it continues the same model from its last checkpoint."""
    model = find_model(session, principal, owner, project, name, write=True)
    job = jobs.job_of(session, model)
    job_submit.resume(session, state.catalog, job)
    if state.runner is not None and state.settings.jobs_scheduler:
        state.runner.place_next()
    session.refresh(job)
    return job_public(session, job)
