"""``/api/users``: the caller's profile, preferences and location, and other people's public profiles."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from server.privacy import registry
from server.profiles.schemas import (
    InterestList,
    LocationUpdate,
    Preferences,
    PreferencesUpdate,
    Profile,
    ProfileUpdate,
    PublicProfile,
)
from server.profiles.service import ProfileService, interests_after
from server.web.auth import Auth, Caller
from server.web.pagination import MAX_LIMIT, Paging, paging

Profiles = NamedDependency[ProfileService]


class EraseRequest(msgspec.Struct, kw_only=True):
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class ProfileController(Controller):
    path = "/api/users"
    tags = ["users"]

    @get("/profile")
    async def own(self, profiles: Profiles, claims: Caller) -> Profile:
        """The caller's profile, with photos in every state."""
        return await profiles.own(claims.user_id)

    @put("/profile")
    async def update(self, data: JSONBody[ProfileUpdate], profiles: Profiles, claims: Caller) -> Profile:
        """Change the fields sent; the others stay. `null` clears an optional field."""
        return await profiles.update(claims.user_id, data)

    @delete("/profile", status_code=HTTP_204_NO_CONTENT)
    async def erase(self, data: JSONBody[EraseRequest], auth: Auth, claims: Caller, state: State) -> None:
        """Erase the caller's account and everything every domain holds about them. Irreversible."""
        await auth.confirm_password(claims, data.password)
        await auth.end_all_sessions(claims.user_id)
        await registry.erase(state.db, state.valkey, claims.user_id)

    @get("/preferences")
    async def preferences(self, profiles: Profiles, claims: Caller) -> Preferences:
        return await profiles.preferences(claims.user_id)

    @put("/preferences")
    async def update_preferences(
        self, data: JSONBody[PreferencesUpdate], profiles: Profiles, claims: Caller
    ) -> Preferences:
        return await profiles.update_preferences(claims.user_id, data)

    @put("/location", status_code=HTTP_204_NO_CONTENT)
    async def move(self, data: JSONBody[LocationUpdate], profiles: Profiles, claims: Caller) -> None:
        """Stored only as the centre of its grid cell; never shown to anyone. Moves are rate-limited."""
        await profiles.move(claims.user_id, data.lat, data.lng)

    @get("/interests", dependencies=paging(default_limit=MAX_LIMIT))
    async def interests(self, claims: Caller, page: Paging) -> InterestList:
        """The interests a profile can pick from, in slug order; the whole catalogue fits the default page."""
        items, next_cursor = page.split(interests_after(page.after, page.limit + 1), lambda slug: [slug])
        return InterestList(items=items, next_cursor=next_cursor)

    @get("/{user_id:uuid}")
    async def public(self, user_id: FromPath[uuid.UUID], profiles: Profiles, claims: Caller) -> PublicProfile:
        """Another person's public profile; 404 for anyone the caller may not see, and for the caller."""
        return await profiles.public(claims.user_id, user_id)
