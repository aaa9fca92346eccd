"""The pull-request report as one comment, against a loopback stand-in of GitHub's REST API.

The stand-in (pytest-httpserver) keeps a pull request's comments and answers the three
calls the step makes as GitHub documents them: list (paginated), create, update. A
fork's read-only token gets GitHub's 403 on writes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from heartml.ops import pull_request
from tests.helpers import call_step

REPO_NAME, PR = "someone/heart", 7
TOKEN = "ghs_loopback-token"


class PullRequestComments:
    """One pull request's comments, as GitHub's issue-comment endpoints serve them."""

    def __init__(self, *, writable: bool = True) -> None:
        self.comments: list[dict[str, Any]] = []
        self.writable = writable
        self.calls: list[str] = []

    def add(self, body: str, user_type: str = "User") -> None:
        self.comments.append(
            {
                "id": 1000 + len(self.comments),
                "body": body,
                "user": {"login": "x", "type": user_type},
            }
        )

    def handle(self, request: Request) -> Response:
        self.calls.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"message": "Bad credentials"}, 401)
        if request.headers.get("Accept") != "application/vnd.github+json":
            return _json({"message": "unexpected Accept"}, 415)
        listing = f"/repos/{REPO_NAME}/issues/{PR}/comments"
        if request.method == "GET" and request.path == listing:
            per_page, page = int(request.args["per_page"]), int(request.args["page"])
            return _json(self.comments[(page - 1) * per_page : page * per_page])
        if request.method in ("POST", "PATCH") and not self.writable:
            return _json({"message": "Resource not accessible by integration"}, 403)
        if request.method == "POST" and request.path == listing:
            body = json.loads(request.data)["body"]
            self.comments.append(
                {"id": 5000 + len(self.comments), "body": body,
                 "user": {"login": "github-actions[bot]", "type": "Bot"}}
            )  # fmt: skip
            return _json(self.comments[-1], 201)
        found = re.fullmatch(rf"/repos/{REPO_NAME}/issues/comments/(\d+)", request.path)
        if request.method == "PATCH" and found:
            comment = next(c for c in self.comments if c["id"] == int(found[1]))
            comment["body"] = json.loads(request.data)["body"]
            return _json(comment)
        return _json({"message": "Not Found"}, 404)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture
def github(httpserver: HTTPServer, monkeypatch) -> PullRequestComments:
    state = PullRequestComments()
    httpserver.expect_request(re.compile("/repos/.*")).respond_with_handler(state.handle)
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO_NAME)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("NOTIFY_RETRY_BASE_SECONDS", "0.01")
    return state


def comment(artifacts_copy, tmp_path) -> Any:
    return call_step(
        "comment_report", "--pr", str(PR), "--artifacts", str(artifacts_copy),
        "--reports", str(tmp_path / "reports"),
    )  # fmt: skip


def test_the_first_push_creates_the_comment_and_later_pushes_edit_it(
    github, artifacts_copy, tmp_path
) -> None:
    github.add("Looks good to me")
    github.add(f"quoting the marker {pull_request.MARKER}")  # a person's comment: never edited
    first = comment(artifacts_copy, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "report comment created on pull request #7" in first.stderr
    ours = [c for c in github.comments if c["user"]["type"] == "Bot"]
    assert len(ours) == 1 and ours[0]["body"].startswith(pull_request.MARKER)
    assert "Heart-disease model run fixture-run" in ours[0]["body"]

    metrics = json.loads((artifacts_copy / "metrics.json").read_text())
    (artifacts_copy / "metrics.json").write_text(json.dumps({**metrics, "run_id": "second-push"}))
    second = comment(artifacts_copy, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "report comment updated" in second.stderr
    ours = [c for c in github.comments if c["user"]["type"] == "Bot"]
    assert len(ours) == 1 and "Heart-disease model run second-push" in ours[0]["body"]
    assert github.comments[1]["body"] == f"quoting the marker {pull_request.MARKER}"
    assert [c.split()[0] for c in github.calls] == ["GET", "POST", "GET", "PATCH"]


def test_the_report_comment_is_found_past_the_first_page(github, artifacts_copy, tmp_path) -> None:
    for i in range(130):
        github.add(f"comment {i}")
    assert comment(artifacts_copy, tmp_path).returncode == 0
    for i in range(130, 240):
        github.add(f"comment {i}")
    assert "updated" in comment(artifacts_copy, tmp_path).stderr
    assert sum(c["user"]["type"] == "Bot" for c in github.comments) == 1


def test_a_forks_read_only_token_is_a_warning_not_a_failed_evaluation(
    github, artifacts_copy, tmp_path
) -> None:
    github.writable = False
    result = comment(artifacts_copy, tmp_path)
    assert result.returncode == 0
    assert "report not commented on pull request #7" in result.stderr
    assert "answered 403" in result.stderr and "read-only token" in result.stderr
    assert TOKEN not in result.stderr
    assert github.comments == []


def test_without_a_token_it_says_what_to_set(monkeypatch, artifacts_copy, tmp_path) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO_NAME)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    result = comment(artifacts_copy, tmp_path)
    assert result.returncode == 1
    assert "set --pr (or PR_NUMBER), GITHUB_REPOSITORY and GITHUB_TOKEN" in result.stderr


def test_a_report_longer_than_github_takes_is_cut_with_a_pointer() -> None:
    body = pull_request.comment_body("x" * 100_000)
    assert len(body) <= pull_request.MAX_BODY_CHARS and body.startswith(pull_request.MARKER)
    assert body.rstrip().endswith("(cut: the whole report is on the run page)")


@pytest.mark.parametrize(
    ("listing", "content_type", "said"),
    [
        ("<html><body>Proxy error</body></html>", "text/html", "something that is not JSON"),
        ("", "application/json", "something that is not JSON"),
        ('{"message": "ok"}', "application/json", "a comment list that is not a list"),
    ],
    ids=["an-html-proxy-page", "an-empty-200", "an-object"],
)
def test_a_comment_list_that_is_not_one_is_a_warning_and_exit_0(
    httpserver: HTTPServer, monkeypatch, artifacts_copy, tmp_path, listing, content_type, said
) -> None:
    httpserver.expect_request(re.compile("/repos/.*")).respond_with_data(
        listing, content_type=content_type
    )
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO_NAME)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    result = comment(artifacts_copy, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "report not commented" in line]
    assert said in warning


@pytest.mark.parametrize("bad_id", [None, "abc", True, -3, 1.5], ids=repr)
def test_a_bot_report_comment_without_a_usable_id_gets_a_new_comment(
    github, artifacts_copy, tmp_path, bad_id
) -> None:
    github.add(f"{pull_request.MARKER}\nold report", user_type="Bot")
    if bad_id is None:
        del github.comments[0]["id"]
    else:
        github.comments[0]["id"] = bad_id
    result = comment(artifacts_copy, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "has no usable id: a new one is made" in result.stderr
    assert "report comment created" in result.stderr


def test_an_api_url_that_is_no_url_is_a_warning_and_exit_0(
    monkeypatch, artifacts_copy, tmp_path
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "http://[::1")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO_NAME)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    result = comment(artifacts_copy, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "report not commented on pull request #7: cannot call the configured URL" in (
        result.stderr
    )
