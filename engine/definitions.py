"""Deploying diagrams and the per-version cache of parsed specs."""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.audit import AuditWriter, close_chain, deploy_chain
from engine.bpmn.compile import compile_bpmn, compile_or_raise
from engine.errors import NotFound, Problem, ValidationFailed
from engine.models import Deployment, MessageStart, ProcessDefinition, Resource
from engine.signal_models import SignalStart


@dataclass(frozen=True)
class DefinitionInfo:
    id: str
    key: str
    version: int
    name: str | None
    sha256: str
    deployment_id: str
    deployed_by: str
    deployed_at: datetime
    created: bool  # False when identical XML was already deployed


class SpecCache:
    """Parsed specs per definition id. Specs are shared read-only by every case of that version."""

    def __init__(self) -> None:
        self._specs: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, definition_id: str):
        hit = self._specs.get(definition_id)
        if hit is not None:
            return hit
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise NotFound(f"process definition {definition_id} not found")
        compiled = compile_or_raise(row.resource.content, row.resource.name)
        with self._lock:
            for pid in compiled.process_ids:
                # Parse once per file: every process of the same resource shares the work.
                other = session.execute(
                    sa.select(ProcessDefinition.id).where(
                        ProcessDefinition.resource_id == row.resource_id, ProcessDefinition.key == pid
                    )
                ).scalar()
                if other:
                    self._specs.setdefault(other, compiled.spec(pid))
        return self._specs[definition_id]

    def clear(self) -> None:
        with self._lock:
            self._specs.clear()


def lint(data: bytes, filename: str) -> list[Problem]:
    """Every problem of a file, as deploy would refuse it ([] = deployable); a file that is not BPMN XML
    at all (or is refused by the hardened parser) is one problem too, not an exception."""
    try:
        return compile_bpmn(data, filename).problems
    except ValidationFailed as err:
        return list(err.problems)


def deploy(
    session: Session, data: bytes, filename: str, deployed_by: str, now: datetime, **options
) -> list[DefinitionInfo]:
    """Store a new version of every executable process in the file, or return the existing ones when the
    same XML was deployed before (per key: the latest version with the same sha256). ``options``: those
    of ``deploy_files``."""
    return deploy_files(session, [(filename, data)], deployed_by, now, **options)


def deploy_files(
    session: Session,
    files: list[tuple[str, bytes]],
    deployed_by: str,
    now: datetime,
    deployment_name: str | None = None,
    source: str | None = None,
    tenant_id: str | None = None,
    changed_only: bool = True,
) -> list[DefinitionInfo]:
    """One deployment of several files (Camunda's ``POST /deployment/create`` with several parts): every
    file is checked before anything is stored, and a process key may appear in one file only.

    ``changed_only``: a file identical to the latest version of each of its processes is not deployed
    again; when no file changed, the existing definitions answer and nothing is stored."""
    compiled, problems = [], []
    for filename, data in files:
        try:
            compiled.append((filename, data, compile_or_raise(data, filename)))
        except ValidationFailed as err:
            if len(files) == 1:
                raise
            problems += [Problem(p.where or filename, f"{filename}: {p.message}") for p in err.problems]
    owners: dict[str, str] = {}
    for filename, _data, c in compiled:
        for pid in c.process_ids:
            if pid in owners:
                problems.append(
                    Problem(
                        pid,
                        f"the process key {pid!r} is in both {owners[pid]} and {filename}; one file per key",
                    )
                )
            owners.setdefault(pid, filename)
    if problems:
        raise ValidationFailed(problems, f"the deployment has {len(problems)} error(s)")

    plans, kept = [], []
    for filename, data, c in compiled:
        sha = hashlib.sha256(data).hexdigest()
        existing: dict[str, ProcessDefinition] = {}
        latest: dict[str, int] = {}
        for pid in c.process_ids:
            row = session.execute(
                sa.select(ProcessDefinition)
                .where(ProcessDefinition.key == pid)
                .order_by(ProcessDefinition.version.desc())
                .limit(1)
            ).scalar()
            latest[pid] = row.version if row else 0
            if row is not None and row.sha256 == sha:
                existing[pid] = row
        if changed_only and len(existing) == len(c.process_ids):
            kept += [_info(row, created=False) for row in existing.values()]
        else:
            plans.append((filename, data, c, sha, latest))
    if not plans:
        return kept

    deployment = Deployment(
        id=str(uuid.uuid4()),
        name=deployment_name or plans[0][0],
        source=source,
        tenant_id=tenant_id,
        deployed_by=deployed_by,
        deployed_at=now,
    )
    session.add(deployment)
    session.flush()
    audit = AuditWriter()
    chain = deploy_chain(session)
    out = []
    for filename, data, c, sha, latest in plans:
        resource = Resource(
            id=str(uuid.uuid4()), deployment_id=deployment.id, name=filename, sha256=sha, content=bytes(data)
        )
        session.add(resource)
        session.flush()
        out += _store_definitions(session, audit, chain, deployment, resource, c, latest, deployed_by, now)
    session.flush()
    audit.flush(session)
    close_chain(session, chain)
    return out + kept


def _store_definitions(session, audit, chain, deployment, resource, compiled, latest, deployed_by, now):
    out = []
    for pid in compiled.process_ids:
        version = latest[pid] + 1
        definition = ProcessDefinition(
            id=f"{pid}:{version}:{uuid.uuid4().hex[:12]}",
            key=pid,
            version=version,
            name=compiled.names.get(pid),
            sha256=resource.sha256,
            resource_id=resource.id,
            deployment_id=deployment.id,
            deployed_by=deployed_by,
            deployed_at=now,
            meta={
                "message_starts": compiled.message_starts.get(pid, []),
                "signal_starts": compiled.signal_starts.get(pid, []),
            },
        )
        session.add(definition)
        session.flush()
        for name in compiled.message_starts.get(pid, []):
            session.add(MessageStart(definition_id=definition.id, message_name=name))
        for name in compiled.signal_starts.get(pid, []):
            session.add(SignalStart(definition_id=definition.id, signal_name=name))
        audit.append(
            chain,
            now,
            deployed_by,
            "process_deployed",
            element_id=pid,
            detail={
                "definition_id": definition.id,
                "version": version,
                "sha256": resource.sha256,
                "file": resource.name,
                "deployment_id": deployment.id,
            },
        )
        out.append(_info(definition, created=True))
    return out


def _info(row: ProcessDefinition, created: bool) -> DefinitionInfo:
    return DefinitionInfo(
        row.id,
        row.key,
        row.version,
        row.name,
        row.sha256,
        row.deployment_id,
        row.deployed_by,
        row.deployed_at,
        created,
    )


def latest_definition(session: Session, key: str, version: int | None = None) -> ProcessDefinition:
    q = sa.select(ProcessDefinition).where(ProcessDefinition.key == key)
    q = (
        q.where(ProcessDefinition.version == version)
        if version
        else q.order_by(ProcessDefinition.version.desc())
    )
    row = session.execute(q.limit(1)).scalar()
    if row is None:
        raise NotFound(
            f"no process definition with key {key!r}" + (f" and version {version}" if version else "")
        )
    return row


def latest_started_by(s: Session, name_column, name: str) -> list[ProcessDefinition]:
    """The latest version of each process whose start event the start index of ``name_column``
    (``MessageStart.message_name``, ``SignalStart.signal_name``) lists for ``name``: earlier versions keep
    their running cases, but only the latest starts new ones."""
    index = name_column.class_
    latest = (
        sa.select(ProcessDefinition.key, sa.func.max(ProcessDefinition.version).label("v"))
        .group_by(ProcessDefinition.key)
        .subquery()
    )
    return list(
        s.execute(
            sa.select(ProcessDefinition)
            .join(index, index.definition_id == ProcessDefinition.id)
            .join(
                latest,
                sa.and_(latest.c.key == ProcessDefinition.key, latest.c.v == ProcessDefinition.version),
            )
            .where(name_column == name)
            .distinct()
            .order_by(ProcessDefinition.key)
        ).scalars()
    )
