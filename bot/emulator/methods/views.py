"""views.*: modals on a stack of at most three, App Home tabs, and the answers to view submissions."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from bot.emulator.arguments import Handler, SlackApiFailure, optional_text
from bot.emulator.blocks import validate_view
from bot.emulator.workspace import Trigger, Workspace

VIEW_STACK_LIMIT: Final = 3

__all__ = ["ViewMethods"]


class ViewMethods:
    """Modals and App Home views, opened, pushed, updated and published as Slack allows."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def handlers(self) -> dict[str, Handler]:
        """The Web API methods this family answers, by name."""
        return {
            "views.open": self.open,
            "views.push": self.push,
            "views.update": self.update,
            "views.publish": self.publish,
        }

    def open(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._view_arg(args, ("modal",))
        trigger = self._check_trigger(args)
        self._check_external_id(spec)
        trigger.used = True
        user_id = trigger.user_id or ""
        self._workspace.close_view(user_id, clear=True)
        view_id = self._workspace.new_id("V")
        view = self._workspace.build_view(spec, view_id=view_id, root_view_id=view_id, previous_view_id=None, values={})
        self._workspace.views_by_id[view_id] = view
        self._workspace.view_owner[view_id] = user_id
        self._workspace.view_stacks[user_id] = [view_id]
        return {"ok": True, "view": copy.deepcopy(view)}

    def push(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._view_arg(args, ("modal",))
        trigger = self._check_trigger(args)
        user_id = trigger.user_id or ""
        stack = self._workspace.view_stacks.get(user_id, [])
        if not stack:
            raise SlackApiFailure("not_found")
        if len(stack) >= VIEW_STACK_LIMIT:
            raise SlackApiFailure("push_limit_reached")
        self._check_external_id(spec)
        trigger.used = True
        view_id = self._workspace.new_id("V")
        view = self._workspace.build_view(
            spec, view_id=view_id, root_view_id=stack[0], previous_view_id=stack[-1], values={}
        )
        self._workspace.views_by_id[view_id] = view
        self._workspace.view_owner[view_id] = user_id
        stack.append(view_id)
        return {"ok": True, "view": copy.deepcopy(view)}

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = optional_text(args.get("view_id"))
        external_id = optional_text(args.get("external_id"))
        if view_id is None and external_id is None:
            raise SlackApiFailure("invalid_arguments", "[ERROR] either view_id or external_id is required")
        if view_id is None and external_id is not None:
            view_id = self._workspace.view_by_external_id.get(external_id)
        current = self._workspace.views_by_id.get(view_id or "")
        if view_id is None or current is None:
            raise SlackApiFailure("not_found")
        spec = self._view_arg(args, (str(current["type"]),))
        expected_hash = optional_text(args.get("hash"))
        if expected_hash is not None and expected_hash != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        self._check_external_id(spec, own_view_id=view_id)
        if current.get("external_id"):
            self._workspace.view_by_external_id.pop(current["external_id"], None)
        view = self._workspace.build_view(
            spec,
            view_id=view_id,
            root_view_id=current["root_view_id"],
            previous_view_id=current.get("previous_view_id"),
            values=current["state"]["values"],
        )
        self._workspace.views_by_id[view_id] = view
        return {"ok": True, "view": copy.deepcopy(view)}

    def publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id"))
        if user_id not in self._workspace.users_by_id:
            raise SlackApiFailure("invalid_arguments", "invalid `user_id`")
        spec = self._view_arg(args, ("home",))
        existing_id = self._workspace.home_by_user.get(user_id)
        existing = self._workspace.views_by_id.get(existing_id) if existing_id else None
        expected_hash = optional_text(args.get("hash"))
        if expected_hash is not None and (existing is None or expected_hash != existing["hash"]):
            raise SlackApiFailure("hash_conflict")
        view_id = existing_id or self._workspace.new_id("V")
        self._check_external_id(spec, own_view_id=view_id)
        if existing is not None and existing.get("external_id"):
            self._workspace.view_by_external_id.pop(existing["external_id"], None)
        view = self._workspace.build_view(
            spec,
            view_id=view_id,
            root_view_id=view_id,
            previous_view_id=None,
            values=existing["state"]["values"] if existing else {},
        )
        self._workspace.views_by_id[view_id] = view
        self._workspace.view_owner[view_id] = user_id
        self._workspace.home_by_user[user_id] = view_id
        return {"ok": True, "view": copy.deepcopy(view)}

    def apply_submission_response(self, user_id: str, view_id: str, response: Mapping[str, Any] | None) -> str:
        """Apply the app's answer to a ``view_submission`` as Slack would; returns what happened."""
        action = response.get("response_action") if response else None
        stack = self._workspace.view_stacks.get(user_id, [])
        if action == "errors":
            errors = response.get("errors") if response else None
            self._workspace.view_errors_by_id[view_id] = dict(errors) if isinstance(errors, dict) else {}
            return "errors"
        self._workspace.view_errors_by_id.pop(view_id, None)
        if action == "clear":
            self._workspace.close_view(user_id, clear=True)
            return "clear"
        if action in ("update", "push") and response is not None:
            spec = response.get("view")
            problems = validate_view(spec, allowed_types=("modal",))
            if problems:
                raise SlackApiFailure("invalid_arguments", *problems)
            assert isinstance(spec, dict)
            if action == "update" and view_id in self._workspace.views_by_id:
                old = self._workspace.views_by_id[view_id]
                self._workspace.views_by_id[view_id] = self._workspace.build_view(
                    spec,
                    view_id=view_id,
                    root_view_id=old["root_view_id"],
                    previous_view_id=old.get("previous_view_id"),
                    values={},
                )
                return "update"
            if len(stack) >= VIEW_STACK_LIMIT:
                raise SlackApiFailure("push_limit_reached")
            new_id = self._workspace.new_id("V")
            root = stack[0] if stack else new_id
            self._workspace.views_by_id[new_id] = self._workspace.build_view(
                spec, view_id=new_id, root_view_id=root, previous_view_id=view_id, values={}
            )
            self._workspace.view_owner[new_id] = user_id
            self._workspace.view_stacks.setdefault(user_id, []).append(new_id)
            return "push"
        self._workspace.close_view(user_id, view_id)
        return "close"

    # --- HTTP

    def _view_arg(self, args: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            raise SlackApiFailure("invalid_arguments", "[ERROR] failed to parse view: must be a JSON object")
        problems = validate_view(view, allowed_types=allowed)
        if problems:
            if any("view is too large" in p for p in problems):
                raise SlackApiFailure("view_too_large")
            raise SlackApiFailure("invalid_arguments", *(f"[ERROR] {p}" for p in problems))
        return view

    def _check_trigger(self, args: Mapping[str, Any]) -> Trigger:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise SlackApiFailure("invalid_arguments", "[ERROR] missing required field: trigger_id")
        trigger = self._workspace.triggers.get(trigger_id)
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        if self._workspace.clock() - trigger.issued_at > self._workspace.trigger_ttl:
            raise SlackApiFailure("expired_trigger_id")
        return trigger

    def _check_external_id(self, spec: Mapping[str, Any], own_view_id: str | None = None) -> str | None:
        external_id = spec.get("external_id") or None
        if external_id is None:
            return None
        holder = self._workspace.view_by_external_id.get(str(external_id))
        if holder is not None and holder != own_view_id:
            raise SlackApiFailure("duplicate_external_id")
        return str(external_id)
