"""Embedding spaces of a workspace and the profile they come from (starter | full | tiny)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from .catalog.schema import Setting, Space
from .encoders.base import Encoder
from .vectors.selection import parse_override
from .encoders import create_encoder, full_profile_available, model_info, profile_spaces
from .workspace import Workspace, WorkspaceError

PROFILE_KEY = "profile"
KNOWN_PROFILES = ("starter", "full", "tiny")
SPACE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
NEW_SPACE_METRIC = "ip"  # the metric a new space is searched with


@dataclass(frozen=True)
class SpaceInfo:
    """A plain copy of a `spaces` row, safe to use outside a session."""

    id: int
    name: str
    encoder_id: str
    dim: int
    metric: str
    index_factory: str | None


@dataclass(frozen=True)
class ProfileDecision:
    profile: str
    notice: str | None  # said to the person when the choice was made for them
    new_spaces: dict[str, str] = field(default_factory=dict)  # {space: encoder id} a new workspace gets

    def dims(self, ws: Workspace) -> dict[str, tuple[int, str]]:
        """{space: (dimension, metric)} the workspace has once this decision is applied (nothing written)."""
        have = {sp.name: (sp.dim, sp.metric) for sp in list_spaces(ws)}
        return {**have, **{name: (model_info(enc).dim, NEW_SPACE_METRIC) for name, enc in self.new_spaces.items()}}


def ensure_profile(ws: Workspace, requested: str | None = None,
                   encoders: dict[str, str] | None = None) -> ProfileDecision:
    """Fix the workspace's profile on first use and create its spaces; later calls must agree with it.

    With no request, a new workspace gets `full` when the open_clip weights are present or can be
    fetched, otherwise `starter`, with a notice saying why. `encoders` ({space: encoder id}) replaces
    the profile's encoder for a space, e.g. an open_clip checkpoint given as a local path.
    """
    decision = decide_profile(ws, requested, encoders)
    apply_profile(ws, decision)
    return decision


def decide_profile(ws: Workspace, requested: str | None = None,
                   encoders: dict[str, str] | None = None) -> ProfileDecision:
    """What `ensure_profile` would do, checked (a bad id or missing weights fail here) and nothing written."""
    encoders = {k: v for k, v in (encoders or {}).items() if v}
    current = ws.get_setting(PROFILE_KEY)
    if requested is not None and requested not in KNOWN_PROFILES:
        raise WorkspaceError(f"unknown profile {requested!r}; choose one of {', '.join(KNOWN_PROFILES)}")
    if current is not None:
        if requested is not None and requested != current:
            raise WorkspaceError(
                f"workspace {ws.home} was created with profile {current!r}; its vectors cannot be mixed with "
                f"{requested!r}. Use a new --workspace for the {requested!r} profile."
            )
        have = {sp.name: sp.encoder_id for sp in list_spaces(ws)}
        for name, encoder_id in encoders.items():
            if have.get(name) != encoder_id:
                raise WorkspaceError(f"space {name!r} of workspace {ws.home} uses {have.get(name)!r}, not "
                                     f"{encoder_id!r}; use a new --workspace for other encoders")
        return ProfileDecision(current, None)
    notice = None
    profile = requested
    if profile is None and not encoders:
        available, reason = full_profile_available()
        profile = "full" if available else "starter"
        if not available:
            notice = f"using the offline 'starter' profile: {reason}"
    profile = profile or "starter"
    chosen = {**profile_spaces(profile), **encoders}
    unknown = sorted(set(encoders) - set(profile_spaces(profile)))
    if unknown:
        raise WorkspaceError(f"no space named {unknown[0]!r} in profile {profile!r}")
    for encoder_id in encoders.values():
        create_encoder(encoder_id)  # a bad id or missing weights fail now, before anything is created
    return ProfileDecision(profile, notice, chosen)


def apply_profile(ws: Workspace, decision: ProfileDecision) -> None:
    """Create a new workspace's spaces and fix its profile, in one transaction (a kill leaves all or none).

    Each space's model is loaded first: a profile whose weights are missing is never fixed, so the
    corrected command may still choose another one.
    """
    if not decision.new_spaces:
        return
    for encoder_id in decision.new_spaces.values():
        create_encoder(encoder_id)  # process-cached: the run uses these very models
    with ws.session() as s:
        for name, encoder_id in decision.new_spaces.items():
            _add_space_row(s, name, encoder_id)
        s.merge(Setting(key=PROFILE_KEY, value=decision.profile))


def create_space(ws: Workspace, name: str, encoder_id: str, index_factory: str | None = None) -> SpaceInfo:
    """Register a space; its dimension and metric come from the encoder's registry entry."""
    with ws.session() as s:
        return _add_space_row(s, name, encoder_id, index_factory)


def _add_space_row(s: Session, name: str, encoder_id: str, index_factory: str | None = None) -> SpaceInfo:
    info = model_info(encoder_id)
    if s.scalar(select(Space).where(Space.name == name)) is not None:
        raise WorkspaceError(f"space {name!r} already exists")
    row = Space(name=name, encoder_id=encoder_id, dim=info.dim, metric=NEW_SPACE_METRIC, index_factory=index_factory)
    s.add(row)
    s.flush()
    return _info(row)


def add_space(ws: Workspace, name: str, encoder_id: str) -> SpaceInfo:
    """Add a space with its own encoder to a workspace that already has its profile's spaces.

    Images indexed from now on are embedded in it too; those indexed before get their vectors from
    `indexer.pipeline.backfill.backfill_space`. The encoder is built first, so a bad id or missing
    weights fail before anything is recorded.
    """
    if ws.get_setting(PROFILE_KEY) is None:
        raise WorkspaceError("this workspace has no spaces yet; index a folder first, then add spaces to it")
    if not SPACE_NAME.fullmatch(name):
        raise WorkspaceError(f"space name {name!r} must be lowercase letters, digits, '-' or '_', "
                             "starting with a letter")
    create_encoder(encoder_id)
    return create_space(ws, name, encoder_id)


def list_spaces(ws: Workspace) -> list[SpaceInfo]:
    with ws.session() as s:
        return [_info(row) for row in s.scalars(select(Space).order_by(Space.id))]


def get_space(ws: Workspace, name: str) -> SpaceInfo:
    for space in list_spaces(ws):
        if space.name == name:
            return space
    known = ", ".join(sp.name for sp in list_spaces(ws)) or "none yet: index a folder first"
    raise WorkspaceError(f"no space named {name!r} in this workspace (spaces: {known})")


def set_index_factory(ws: Workspace, name: str, factory: str | None) -> None:
    """Force (or, with None, stop forcing) a FAISS factory string for one space; validated before it is kept."""
    with ws.session() as s:
        row = s.scalar(select(Space).where(Space.name == name))
        if row is None:
            raise WorkspaceError(f"no space named {name!r}")
        if factory is not None:
            parse_override(factory, dim=row.dim, metric=row.metric)  # raises InvalidFactoryError
        row.index_factory = factory


def space_encoder(space: SpaceInfo) -> Encoder:
    """The (process-cached) encoder that produced this space's vectors."""
    encoder = create_encoder(space.encoder_id)
    if encoder.dim != space.dim:
        raise WorkspaceError(
            f"encoder {space.encoder_id} now gives {encoder.dim}-d vectors but space {space.name!r} holds "
            f"{space.dim}-d ones; re-create the workspace"
        )
    return encoder


def _info(row: Space) -> SpaceInfo:
    return SpaceInfo(row.id, row.name, row.encoder_id, row.dim, row.metric, row.index_factory)
