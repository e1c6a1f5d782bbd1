"""The API docs page loads every asset from the appliance itself."""

from __future__ import annotations

import re


async def test_docs_load_no_asset_from_outside_and_every_asset_is_served(client):
    page = await client.get("/api/docs")
    assert page.status_code == 200
    links = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert links, page.text
    assert not [link for link in links if "//" in link], links
    for link in links:
        asset = await client.get(link)
        assert asset.status_code == 200, link
        assert len(asset.content) > 100, link
    assert any(link.endswith("swagger-ui-bundle.js") for link in links)


async def test_the_assets_are_not_part_of_the_api_contract(client):
    schema = (await client.get("/api/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/api/docs")]
