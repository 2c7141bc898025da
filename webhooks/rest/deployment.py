"""Deployments: ``POST /deployment/create`` exactly as Camunda Modeler 5 sends it, and the read side.

Modeler's request (client/src/plugins/camunda-plugin/shared/CamundaAPI.js): multipart with
``deployment-name``, ``deployment-source`` = "Camunda Modeler", ``enable-duplicate-filtering`` = "true",
optional ``tenant-id``, the diagram as a part named by its file name, and any form attachments. Scripts
also send ``deploy-changed-only``. Either flag means: a diagram identical to the latest version of its
process is not deployed again; the answer then names the existing deployment and its definitions (so
Modeler's "start instance" works after an unchanged redeploy).

Every BPMN file is validated before any is stored; errors answer as Camunda's ParseException (400,
message starting "ENGINE-09005 Could not parse BPMN process.", which Modeler shows as a parse error, and
``details`` per resource with each error's element id).
"""

from __future__ import annotations

from typing import Any

from flask import request

from engine import camunda_queries as q
from engine.errors import DelaktigError, ValidationFailed
from engine.models import Deployment
from webhooks.engine_ext import get_engine
from webhooks.rest import auth
from webhooks.rest.blueprint import bp, link, ok
from webhooks.rest.definition import definition_dto
from webhooks.rest.errors import RestError, engine_error, invalid, not_found
from webhooks.rest.params import Params, strict
from webhooks.rest.variables import fmt_date

FORM_FIELDS = {
    "deployment-name",
    "deployment-source",
    "deploy-changed-only",
    "enable-duplicate-filtering",
    "tenant-id",
    "deployment-activation-time",
}
BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml", ".bpmn2")
# Attachments Modeler may send along (Camunda Forms, HTML forms): accepted and not stored, since
# Delaktig's forms come from the diagram's generated form fields.
IGNORED_SUFFIXES = (".form", ".html", ".htm", ".png", ".svg")


def deployment_dto(dep: Deployment) -> dict[str, Any]:
    return {
        "links": [link(f"/deployment/{dep.id}")],
        "id": dep.id,
        "name": dep.name,
        "source": dep.source,
        "tenantId": dep.tenant_id,
        "deploymentTime": fmt_date(dep.deployed_at),
    }


def _flag(name: str) -> bool:
    value = request.form.get(name)
    if value is None:
        return False
    if value.strip().lower() not in ("true", "false"):
        raise invalid(f"Cannot set form part '{name}' to value '{value}': expected true or false")
    return value.strip().lower() == "true"


def _parse_error(problems: dict[str, list]) -> RestError:
    lines, details = [], {}
    for filename, items in problems.items():
        errors = []
        for p in items:
            lines.append(f"* {p.message} | resource {filename} | line 0 | column 0 | element {p.where}")
            errors.append(
                {
                    "message": p.message,
                    "line": 0,
                    "column": 0,
                    "mainElementId": p.where or None,
                    "elementIds": [p.where] if p.where else [],
                }
            )
        details[filename] = {"errors": errors, "warnings": []}
    message = "ENGINE-09005 Could not parse BPMN process. Errors: \n" + "\n".join(lines)
    return RestError(400, "ParseException", message, details=details)


@bp.post("/deployment/create")
def deployment_create():
    if request.mimetype != "multipart/form-data":
        raise invalid("Deployment requires a multipart/form-data request with the resources as file parts")
    user = auth.require_manager("CREATE", "Deployment")
    try:
        form, files = request.form, request.files
    except ValueError as err:  # werkzeug: a broken multipart body
        raise invalid(f"Malformed multipart request: {err}") from None
    name = form.get("deployment-name")
    source = form.get("deployment-source")
    tenant_id = form.get("tenant-id") or None
    if tenant_id is not None:  # a tenant would be half kept: one version sequence serves every caller
        raise invalid(
            "Delaktig has no tenants: leave the tenant id empty (every diagram is the municipality's)"
        )
    if (form.get("deployment-activation-time") or "").strip():
        # Camunda keeps the definitions suspended until then; Delaktig suspends nothing, so a new version
        # would be live at once: refused whatever the value (a date or not), never silently dropped. Sent
        # empty, as for tenant-id, it asks for nothing.
        raise invalid(
            "Delaktig does not support the form part 'deployment-activation-time': it has no suspension, "
            "so a deployed version is active at once; deploy it when it is to take effect"
        )
    changed_only = _flag("deploy-changed-only") or _flag("enable-duplicate-filtering")
    resources = []
    for part_name, storage in files.items(multi=True):
        filename = storage.filename or part_name
        resources.append((filename, storage.read()))
    # As Camunda: every part that is not one of the named fields is a resource, file part or not.
    resources += [(k, v.encode()) for k, v in form.items(multi=True) if k not in FORM_FIELDS]
    if not resources:
        raise invalid("No deployment resources contained in the form upload.")
    bpmn = []
    for filename, content in resources:
        lower = filename.lower()
        if lower.endswith(IGNORED_SUFFIXES):
            continue
        if not lower.endswith(BPMN_SUFFIXES) and b"BPMN/20100524/MODEL" not in content[:4096]:
            raise invalid(f"Resource '{filename}' is not a BPMN 2.0 diagram; Delaktig deploys BPMN only")
        bpmn.append((filename, content))
    if not bpmn:
        raise invalid("No BPMN diagram contained in the form upload.")
    engine = get_engine()
    problems = {}
    for filename, content in bpmn:
        try:
            problems[filename] = engine.lint(content, filename)
        except ValidationFailed as err:  # not XML at all, or refused by the hardened parser
            problems[filename] = err.problems
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        raise _parse_error(problems)
    try:  # one deployment of every diagram in the request, as Camunda makes
        infos = engine.deploy_files(
            bpmn,
            deployed_by=user.name,
            deployment_name=name or bpmn[0][0],
            source=source,
            tenant_id=tenant_id,
            changed_only=changed_only,
        )
    except ValidationFailed as err:
        raise _parse_error({bpmn[0][0] if len(bpmn) == 1 else "deployment": err.problems}) from None
    except DelaktigError as err:
        raise engine_error(err, "Cannot deploy") from None
    if not infos:
        raise invalid('The diagram has no executable process (isExecutable="true").')
    created = [i for i in infos if i.created]
    deployment_id = (created or infos)[0].deployment_id
    with engine.session() as s:
        dep = q.get_deployment(s, deployment_id)
        defs = q.definitions_by_id(s, {i.id for i in infos})
        dto = deployment_dto(dep)
        dto["deployedProcessDefinitions"] = {i.id: definition_dto(defs[i.id]) for i in infos}
    dto.update(
        deployedCaseDefinitions=None,
        deployedDecisionDefinitions=None,
        deployedDecisionRequirementsDefinitions=None,
    )
    return ok(dto)


@strict
def _filter(p: Params) -> q.DeploymentFilter:
    first, maximum = p.paging()
    return q.DeploymentFilter(
        id=p.str("id"),
        name=p.str("name"),
        name_like=p.str("nameLike"),
        source=p.str("source"),
        without_source=p.bool("withoutSource"),
        tenant_ids=p.list("tenantIdIn"),
        without_tenant=p.bool("withoutTenantId"),
        after=p.date("after"),
        before=p.date("before"),
        sorting=p.sorting(set(q.DEPLOYMENT_SORT)),
        first_result=first,
        max_results=maximum,
    )


@bp.get("/deployment")
def deployment_list():
    f = _filter(Params(request.args))
    with get_engine().session() as s:
        return ok([deployment_dto(d) for d in q.deployment_list(s, f)])


@bp.get("/deployment/count")
def deployment_count():
    f = _filter(Params(request.args))
    with get_engine().session() as s:
        return ok({"count": q.deployment_count(s, f)})


def _deployment(s, deployment_id: str) -> Deployment:
    dep = q.get_deployment(s, deployment_id)
    if dep is None:
        raise not_found(f"Deployment with id '{deployment_id}' does not exist")
    return dep


@bp.get("/deployment/<deployment_id>")
def deployment_get(deployment_id: str):
    with get_engine().session() as s:
        return ok(deployment_dto(_deployment(s, deployment_id)))


@bp.get("/deployment/<deployment_id>/resources")
def deployment_resources(deployment_id: str):
    with get_engine().session() as s:
        _deployment(s, deployment_id)
        rows = q.deployment_resources(s, deployment_id)
        return ok([{"id": r.id, "name": r.name, "deploymentId": r.deployment_id} for r in rows])


def _resource(s, deployment_id: str, resource_id: str):
    _deployment(s, deployment_id)
    for r in q.deployment_resources(s, deployment_id):
        if r.id == resource_id:
            return r
    raise not_found(
        f"Deployment resource with resource id '{resource_id}' for deployment id '{deployment_id}' does not exist."
    )


@bp.get("/deployment/<deployment_id>/resources/<resource_id>")
def deployment_resource(deployment_id: str, resource_id: str):
    with get_engine().session() as s:
        r = _resource(s, deployment_id, resource_id)
        return ok({"id": r.id, "name": r.name, "deploymentId": r.deployment_id})


@bp.get("/deployment/<deployment_id>/resources/<resource_id>/data")
def deployment_resource_data(deployment_id: str, resource_id: str):
    from flask import Response

    with get_engine().session() as s:
        r = _resource(s, deployment_id, resource_id)
        return Response(r.content, mimetype="application/xml")
