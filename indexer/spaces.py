"""Embedding spaces of a workspace and the profile they come from (starter | full | tiny)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from .catalog.schema import Space
from .encoders.base import Encoder
from .vectors.selection import parse_override
from .encoders import create_encoder, full_profile_available, model_info, profile_spaces
from .workspace import Workspace, WorkspaceError

PROFILE_KEY = "profile"
KNOWN_PROFILES = ("starter", "full", "tiny")
SPACE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


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


def ensure_profile(ws: Workspace, requested: str | None = None,
                   encoders: dict[str, str] | None = None) -> ProfileDecision:
    """Fix the workspace's profile on first use and create its spaces; later calls must agree with it.

    With no request, a new workspace gets `full` when the open_clip weights are present or can be
    fetched, otherwise `starter`, with a notice saying why. `encoders` ({space: encoder id}) replaces
    the profile's encoder for a space, e.g. an open_clip checkpoint given as a local path.
    """
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
    for name, encoder_id in chosen.items():
        create_space(ws, name, encoder_id)
    ws.set_setting(PROFILE_KEY, profile)
    return ProfileDecision(profile, notice)


def create_space(ws: Workspace, name: str, encoder_id: str, index_factory: str | None = None) -> SpaceInfo:
    """Register a space; its dimension and metric come from the encoder's registry entry."""
    info = model_info(encoder_id)
    with ws.session() as s:
        if s.scalar(select(Space).where(Space.name == name)) is not None:
            raise WorkspaceError(f"space {name!r} already exists")
        row = Space(name=name, encoder_id=encoder_id, dim=info.dim, metric="ip", index_factory=index_factory)
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
