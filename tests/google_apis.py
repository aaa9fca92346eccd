"""A loopback stand-in of the Google Cloud APIs the deploy scripts reach through the real gcloud.

gcloud is pointed at it through its own configuration only (``gcloud_config``): a
temporary ``CLOUDSDK_CONFIG`` whose ``proxy/*`` properties send every request here and
whose ``api_endpoint_overrides/*`` name each API by host (``http://run.fake/``). The
stand-in answers like the APIs do for the calls a deploy makes, records every call
with its body (and the uploaded source zip), and refuses with 403 what the caller's
roles do not allow, using the permission names of Google's IAM documentation.

It models what the deploys depend on, not the whole of Google Cloud: one project,
Cloud Functions v2 (functions, runtimes, upload URLs, operations, invoker policy),
the Cloud Run service behind each function (get and IAM policy), Service Usage,
Resource Manager, Cloud Build's default service account, Cloud Storage bucket
metadata and Eventarc providers. Long-running operations finish at once.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROJECT = "test-project"
PROJECT_NUMBER = "123456789012"
# The APIs gcloud is pointed at; each is reached as http://<api>.fake/.
APIS = (
    "cloudfunctions",
    "run",
    "serviceusage",
    "cloudbuild",
    "cloudresourcemanager",
    "storage",
    "eventarc",
    "iam",
    "artifactregistry",
    "secretmanager",
    "pubsub",
)

# Permissions per predefined role, as far as the deploys touch them (Google's IAM reference).
ROLE_PERMISSIONS: dict[str, set[str]] = {
    "roles/cloudfunctions.developer": {
        "cloudfunctions.functions.call",
        "cloudfunctions.functions.create",
        "cloudfunctions.functions.delete",
        "cloudfunctions.functions.get",
        "cloudfunctions.functions.invoke",
        "cloudfunctions.functions.list",
        "cloudfunctions.functions.sourceCodeGet",
        "cloudfunctions.functions.sourceCodeSet",
        "cloudfunctions.functions.update",
        "cloudfunctions.locations.list",
        "cloudfunctions.operations.get",
        "cloudfunctions.operations.list",
        "cloudfunctions.runtimes.list",
        "resourcemanager.projects.get",
        "run.services.get",
        "serviceusage.services.get",
        "serviceusage.services.list",
    },
    "roles/cloudfunctions.admin": {
        "cloudfunctions.functions.getIamPolicy",
        "cloudfunctions.functions.setIamPolicy",
    },
    "roles/run.admin": {
        "run.services.get",
        "run.services.getIamPolicy",
        "run.services.setIamPolicy",
    },
    "roles/run.invoker": {"run.routes.invoke"},
    "roles/iam.serviceAccountUser": {"iam.serviceAccounts.actAs"},
    "roles/storage.objectViewer": {"storage.objects.get", "storage.objects.list"},
    "roles/storage.legacyBucketReader": {"storage.buckets.get"},
    "roles/eventarc.developer": {"eventarc.providers.get", "eventarc.triggers.create"},
    "roles/owner": set(),  # everything; see allowed()
}

ERRORS = {403: "PERMISSION_DENIED", 404: "NOT_FOUND", 400: "INVALID_ARGUMENT"}


@dataclass
class Call:
    """One request as the stand-in saw it."""

    method: str
    api: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0

    @property
    def summary(self) -> str:
        return f"{self.method} {self.api} {self.path} -> {self.status}"


@dataclass
class Project:
    """The state of the one project: who holds which role, and what is deployed."""

    roles: dict[str, set[str]] = field(default_factory=dict)  # member -> project roles
    # resource name -> member -> roles (an IAM policy on one function or service)
    resource_roles: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)  # bucket -> location
    enabled: set[str] = field(
        default_factory=lambda: {
            "cloudfunctions.googleapis.com",
            "cloudbuild.googleapis.com",
            "artifactregistry.googleapis.com",
            "run.googleapis.com",
            "logging.googleapis.com",
            "pubsub.googleapis.com",
            "eventarc.googleapis.com",
            "secretmanager.googleapis.com",
        }
    )

    def allowed(self, member: str, permission: str, resource: str | None = None) -> bool:
        roles = set(self.roles.get(member, set()))
        if resource is not None:
            roles |= self.resource_roles.get(resource, {}).get(member, set())
        if "roles/owner" in roles:
            return True
        return any(permission in ROLE_PERMISSIONS.get(role, set()) for role in roles)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GoogleApis:
    """The stand-in: a threaded HTTP proxy endpoint that answers as the APIs would."""

    def __init__(self, caller: str) -> None:
        self.caller = caller  # the member every request is made as (the token's identity)
        self.project = Project()
        self.calls: list[Call] = []
        self._operations: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> GoogleApis:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what tests read -------------------------------------------------------------------

    def summaries(self) -> list[str]:
        return [c.summary for c in self.calls]

    def bodies(self, method: str, path_pattern: str) -> list[Any]:
        return [
            c.body for c in self.calls if c.method == method and re.search(path_pattern, c.path)
        ]

    def uploaded_files(self) -> list[list[str]]:
        """The files (not directory entries) of every source zip uploaded, in upload order."""
        return [
            sorted(n for n in zipfile.ZipFile(io.BytesIO(z)).namelist() if not n.endswith("/"))
            for z in self.project.uploads.values()
        ]

    # -- the protocol ----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        apis = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                url = urlsplit(self.path)
                api = (url.hostname or "").removesuffix(".fake")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: Any = raw
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw)
                call = Call(self.command, api, url.path, parse_qs(url.query), body)
                try:
                    status, answer = apis._route(call, raw)
                except ApiError as exc:
                    status = exc.status
                    answer = {
                        "error": {
                            "code": exc.status,
                            "message": exc.message,
                            "status": ERRORS.get(exc.status, "UNKNOWN"),
                        }
                    }
                call.status = status
                with apis._lock:
                    apis.calls.append(call)
                out = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _require(self, permission: str, resource: str | None = None) -> None:
        if not self.project.allowed(self.caller, permission, resource):
            raise ApiError(
                403,
                f"Permission '{permission}' denied on resource '{resource or PROJECT}' "
                f"(or it may not exist) for {self.caller}.",
            )

    def _route(self, call: Call, raw: bytes) -> tuple[int, Any]:
        handler = getattr(self, f"_{call.api}", None)
        if handler is None:
            raise ApiError(404, f"the stand-in does not model the {call.api} API")
        return handler(call, raw)

    # Resource Manager ---------------------------------------------------------------------

    def _cloudresourcemanager(self, call: Call, raw: bytes) -> tuple[int, Any]:
        if call.method == "GET" and call.path in (
            f"/v1/projects/{PROJECT}",
            f"/v3/projects/{PROJECT}",
        ):
            self._require("resourcemanager.projects.get")
            return 200, {
                "projectId": PROJECT,
                "projectNumber": PROJECT_NUMBER,
                "name": f"projects/{PROJECT_NUMBER}" if "/v3/" in call.path else PROJECT,
                "lifecycleState": "ACTIVE",
                "state": "ACTIVE",
            }
        if call.method == "POST" and call.path == f"/v1/projects/{PROJECT}:getIamPolicy":
            self._require("resourcemanager.projects.getIamPolicy")
            by_role: dict[str, list[str]] = {}
            for member, roles in self.project.roles.items():
                for role in roles:
                    by_role.setdefault(role, []).append(member)
            return 200, {
                "version": 1,
                "etag": "BwYAAAAAAAA=",
                "bindings": [{"role": r, "members": sorted(m)} for r, m in sorted(by_role.items())],
            }
        raise ApiError(404, f"no such resource {call.path}")

    # Service Usage ------------------------------------------------------------------------

    def _serviceusage(self, call: Call, raw: bytes) -> tuple[int, Any]:
        match = re.fullmatch(r"/v1/projects/([^/]+)/services/([^/]+)", call.path)
        if call.method == "GET" and match:
            self._require("serviceusage.services.get")
            name = match.group(2)
            state = "ENABLED" if name in self.project.enabled else "DISABLED"
            return 200, {"name": f"projects/{PROJECT_NUMBER}/services/{name}", "state": state}
        raise ApiError(404, f"no such resource {call.path}")

    # Cloud Build --------------------------------------------------------------------------

    def _cloudbuild(self, call: Call, raw: bytes) -> tuple[int, Any]:
        if call.method == "GET" and call.path.endswith("/defaultServiceAccount"):
            return 200, {
                "name": call.path.removeprefix("/v1/"),
                "serviceAccountEmail": f"projects/{PROJECT}/serviceAccounts/"
                f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com",
            }
        raise ApiError(404, f"no such resource {call.path}")

    # Cloud Functions v2 -------------------------------------------------------------------

    def _cloudfunctions(self, call: Call, raw: bytes) -> tuple[int, Any]:
        path = call.path
        location = re.fullmatch(r"/v2/projects/([^/]+)/locations/([^/]+)(/.*)?", path)
        operation = re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+/operations/[^/]+)", path)
        if operation and call.method == "GET":
            self._require("cloudfunctions.operations.get")
            return 200, self._operations[operation.group(1)]
        if not location:
            raise ApiError(404, f"no such resource {path}")
        region, rest = location.group(2), location.group(3) or ""
        parent = f"projects/{PROJECT}/locations/{region}"
        if rest == "/runtimes" and call.method == "GET":
            self._require("cloudfunctions.runtimes.list")
            return 200, {
                "runtimes": [
                    {
                        "name": "python312",
                        "displayName": "Python 3.12",
                        "stage": "GA",
                        "environment": "GEN_2",
                    }
                ]
            }
        if rest == "/functions:generateUploadUrl" and call.method == "POST":
            self._require("cloudfunctions.functions.sourceCodeSet")
            key = f"upload-{len(self.project.uploads) + 1}"
            self.project.uploads[key] = b""
            return 200, {
                "uploadUrl": f"http://storage.fake/upload/{key}",
                "storageSource": {
                    "bucket": f"gcf-v2-uploads-{PROJECT_NUMBER}-{region}",
                    "object": f"{key}.zip",
                },
            }
        if rest == "/functions" and call.method == "POST":
            function_id = call.query["functionId"][0]
            name = f"{parent}/functions/{function_id}"
            self._require("cloudfunctions.functions.create")
            self._check_service_accounts(call.body)
            return 200, self._deploy(name, call.body, region)
        function = re.fullmatch(r"/functions/([^/:]+)", rest)
        if function:
            name = f"{parent}/functions/{function.group(1)}"
            if call.method == "GET":
                self._require("cloudfunctions.functions.get")
                if name not in self.project.functions:
                    raise ApiError(404, f"Resource '{name}' was not found")
                return 200, self.project.functions[name]
            if call.method == "PATCH":
                self._require("cloudfunctions.functions.update")
                if name not in self.project.functions:
                    raise ApiError(404, f"Resource '{name}' was not found")
                self._check_service_accounts(call.body)
                return 200, self._deploy(name, call.body, region)
        iam = re.fullmatch(r"/functions/([^/:]+):(getIamPolicy|setIamPolicy)", rest)
        if iam:
            name = f"{parent}/functions/{iam.group(1)}"
            self._require(f"cloudfunctions.functions.{iam.group(2)}", name)
            return 200, self._iam_policy(self._run_service(name), call, raw)
        raise ApiError(404, f"no such resource {path}")

    def _check_service_accounts(self, body: dict[str, Any]) -> None:
        """Deploying as a service account needs actAs on it (roles/iam.serviceAccountUser)."""
        accounts = [
            (body.get("serviceConfig") or {}).get("serviceAccountEmail"),
            (body.get("buildConfig") or {}).get("serviceAccount"),
            (body.get("eventTrigger") or {}).get("serviceAccountEmail"),
        ]
        for account in filter(None, accounts):
            email = account.rsplit("/", 1)[-1]
            resource = f"projects/{PROJECT}/serviceAccounts/{email}"
            self._require("iam.serviceAccounts.actAs", resource)

    def _deploy(self, name: str, body: dict[str, Any], region: str) -> dict[str, Any]:
        source = ((body.get("buildConfig") or {}).get("source") or {}).get("storageSource") or {}
        upload = source.get("object", "").removesuffix(".zip")
        if upload not in self.project.uploads or not self.project.uploads[upload]:
            raise ApiError(400, f"source {source} was never uploaded")
        service = self._run_service(name)
        function_id = name.rsplit("/", 1)[-1]
        resource = json.loads(json.dumps(body))
        resource["name"] = name
        resource["environment"] = "GEN_2"
        resource["state"] = "ACTIVE"
        resource.setdefault("serviceConfig", {})
        resource["serviceConfig"]["service"] = service
        resource["serviceConfig"]["uri"] = (
            f"https://{function_id}-{PROJECT_NUMBER}.{region}.run.app"
        )
        resource["url"] = resource["serviceConfig"]["uri"]
        self.project.functions[name] = resource
        self.project.resource_roles.setdefault(service, {})
        operation_name = (
            f"projects/{PROJECT}/locations/{region}/operations/op-{len(self._operations) + 1}"
        )
        operation = {
            "name": operation_name,
            "done": True,
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata"
            },
            "response": {
                "@type": "type.googleapis.com/google.cloud.functions.v2.Function",
                **resource,
            },
        }
        self._operations[operation_name] = operation
        return operation

    @staticmethod
    def _run_service(function_name: str) -> str:
        """A gen-2 function runs as the Cloud Run service of the same name and region."""
        parts = function_name.split("/")  # projects/P/locations/R/functions/F
        return f"projects/{PROJECT}/locations/{parts[3]}/services/{parts[5]}"

    # Cloud Run ----------------------------------------------------------------------------

    def _run(self, call: Call, raw: bytes) -> tuple[int, Any]:
        iam = re.fullmatch(
            r"/v[12]/(projects/[^/]+/locations/[^/]+/services/[^/:]+):(getIamPolicy|setIamPolicy)",
            call.path,
        )
        if iam:
            service = iam.group(1)
            self._require(f"run.services.{iam.group(2)}", service)
            return 200, self._iam_policy(service, call, raw)
        service = re.fullmatch(
            r"/v[12]/(projects/[^/]+/locations/[^/]+/services/[^/:]+)", call.path
        )
        if service and call.method == "GET":
            self._require("run.services.get", service.group(1))
            if service.group(1) not in self.project.resource_roles:
                raise ApiError(404, f"Resource '{service.group(1)}' was not found")
            return 200, {"name": service.group(1), "uri": "https://example.run.app"}
        raise ApiError(404, f"no such resource {call.path}")

    def _iam_policy(self, resource: str, call: Call, raw: bytes) -> dict[str, Any]:
        bindings = self.project.resource_roles.setdefault(resource, {})
        if call.path.endswith(":setIamPolicy"):
            bindings.clear()
            for binding in (call.body.get("policy") or {}).get("bindings", []):
                for member in binding.get("members", []):
                    bindings.setdefault(member, set()).add(binding["role"])
        by_role: dict[str, list[str]] = {}
        for member, roles in bindings.items():
            for role in roles:
                by_role.setdefault(role, []).append(member)
        return {
            "version": 1,
            "etag": "BwYAAAAAAAA=",
            "bindings": [{"role": r, "members": sorted(m)} for r, m in sorted(by_role.items())],
        }

    # Cloud Storage (the signed upload URL, bucket metadata) --------------------------------

    def _storage(self, call: Call, raw: bytes) -> tuple[int, Any]:
        upload = re.fullmatch(r"/upload/([^/]+)", call.path)
        if upload and call.method == "PUT":
            if upload.group(1) not in self.project.uploads:
                raise ApiError(403, "the signed URL is not valid")
            self.project.uploads[upload.group(1)] = raw
            call.body = f"<zip of {len(raw)} bytes>"
            return 200, {}
        bucket = re.fullmatch(r"/storage/v1/b/([^/]+)", call.path)
        if bucket and call.method == "GET":
            name = bucket.group(1)
            self._require("storage.buckets.get", f"projects/_/buckets/{name}")
            if name not in self.project.buckets:
                raise ApiError(404, f"The specified bucket does not exist: {name}")
            return 200, {
                "kind": "storage#bucket",
                "name": name,
                "id": name,
                "location": self.project.buckets[name],
                "locationType": "region",
            }
        raise ApiError(404, f"no such resource {call.path}")


def gcloud_config(config_dir: Path, port: int, account: str) -> dict[str, str]:
    """Write a gcloud configuration that reaches the stand-in; return the environment to use."""
    config_dir.mkdir(parents=True, exist_ok=True)
    token = config_dir / "access-token"
    token.write_text("stand-in-token\n")
    properties = {
        "core": {
            "account": account,
            "project": PROJECT,
            "disable_usage_reporting": "true",
            "disable_prompts": "true",
        },
        "component_manager": {"disable_update_check": "true"},
        "auth": {"access_token_file": str(token)},
        "proxy": {"type": "http", "address": "127.0.0.1", "port": str(port)},
        "api_endpoint_overrides": {api: f"http://{api}.fake/" for api in APIS},
    }
    (config_dir / "configurations").mkdir(exist_ok=True)
    lines = []
    for section, values in properties.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in values.items()]
    (config_dir / "configurations" / "config_default").write_text("\n".join(lines) + "\n")
    (config_dir / "active_config").write_text("default")
    return {"CLOUDSDK_CONFIG": str(config_dir)}


@contextmanager
def google_apis(caller: str) -> Iterator[GoogleApis]:
    apis = GoogleApis(caller).start()
    try:
        yield apis
    finally:
        apis.stop()
