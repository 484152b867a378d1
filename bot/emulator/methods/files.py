"""files.*: the two-step external upload (an upload URL, then completing it into conversations)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.emulator.arguments import Handler, SlackApiFailure, optional_text
from bot.emulator.workspace import UploadedFile, Workspace

__all__ = ["FileMethods"]


class FileMethods:
    """Uploads: a file is created, its bytes posted to the upload URL, then shared."""

    def __init__(self, workspace: Workspace, base_url: Callable[[], str]) -> None:
        self._workspace = workspace
        self._base_url = base_url

    def handlers(self) -> dict[str, Handler]:
        """The Web API methods this family answers, by name."""
        return {
            "files.getUploadURLExternal": self.get_upload_url_external,
            "files.completeUploadExternal": self.complete_upload_external,
        }

    def get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = optional_text(args.get("filename"))
        if filename is None:
            raise SlackApiFailure("missing_argument", "[ERROR] missing required field: filename")
        try:
            length = int(str(args.get("length")))
        except ValueError as exc:
            raise SlackApiFailure("invalid_arguments", "[ERROR] length must be an integer") from exc
        if length < 0:
            raise SlackApiFailure("invalid_arguments", "[ERROR] length must be positive")
        file_id = self._workspace.new_id("F")
        self._workspace.uploads[file_id] = UploadedFile(
            id=file_id,
            filename=filename,
            length=length,
            title=filename,
            user=self._workspace.bot_user_id,
            created=int(self._workspace.clock()),
            alt_txt=optional_text(args.get("alt_txt")),
            snippet_type=optional_text(args.get("snippet_type")),
        )
        return {"ok": True, "upload_url": f"{self._base_url()}upload/{file_id}", "file_id": file_id}

    def complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            raise SlackApiFailure("invalid_arguments", "[ERROR] files must be a JSON array of {id, title}")
        chosen: list[tuple[UploadedFile, str]] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise SlackApiFailure("invalid_arguments", "[ERROR] each file needs an id")
            upload = self._workspace.uploads.get(item["id"])
            if upload is None or upload.content is None or upload.completed:
                raise SlackApiFailure("file_not_found")
            chosen.append((upload, str(item.get("title") or upload.filename)))
        targets: list[str] = []
        if args.get("channel_id"):
            targets.append(str(args["channel_id"]))
        if args.get("channels"):
            targets.extend(c.strip() for c in str(args["channels"]).split(",") if c.strip())
        channels = [self._workspace.resolve_channel(target, open_dm=True) for target in targets]
        thread_ts = optional_text(args.get("thread_ts"))
        if thread_ts is not None and len(channels) != 1:
            raise SlackApiFailure("invalid_arguments", "[ERROR] thread_ts requires exactly one channel")
        completed: list[UploadedFile] = []
        for upload, title in chosen:
            done = replace(upload, title=title, completed=True, channels=tuple(c.id for c in channels))
            self._workspace.uploads[upload.id] = done
            completed.append(done)
        comment = optional_text(args.get("initial_comment")) or ""
        for channel in channels:
            self._workspace.store_new_message(
                channel.id,
                self._workspace.bot_user_id,
                comment,
                [],
                thread_ts=thread_ts,
                bot=True,
                files=[f.to_slack(self._workspace.team_domain) for f in completed],
            )
        return {"ok": True, "files": [{"id": f.id, "title": f.title} for f in completed]}
