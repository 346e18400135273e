"""The persisted feed: newest first, paged, in the account's language, marked read."""

from __future__ import annotations

from tests.helpers import PASSWORD, Api, error_codes

FEED = """
query Feed($first: Int, $after: String, $unreadOnly: Boolean) {
  viewer {
    unreadNotificationCount
    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
      totalCount
      edges { cursor node { id kind level message readAt account { email } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
MARK_READ = """
mutation M($input: MarkNotificationsReadInput!) {
  markNotificationsRead(input: $input) { unreadNotificationCount errors { code field } }
}
"""
REGENERATE = """
mutation R($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) { errors { code } }
}
"""
NODE = "query N($id: ID!) { node(id: $id) { id ... on Notification { kind } } }"


async def feed(api: Api, token: str, **variables: object) -> dict[str, object]:
    viewer: dict[str, object] = (await api.data(FEED, variables, token=token))["viewer"]
    return viewer


async def test_changes_fill_the_feed_newest_first_with_cursors(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)

    first_page = await feed(api, token, first=1)
    notifications = first_page["notifications"]
    assert notifications["totalCount"] == 2  # type: ignore[index]
    assert [e["node"]["kind"] for e in notifications["edges"]] == ["BACKUP_CODES_REGENERATED"]  # type: ignore[index]
    assert notifications["pageInfo"]["hasNextPage"] is True  # type: ignore[index]
    assert first_page["unreadNotificationCount"] == 2

    after = notifications["pageInfo"]["endCursor"]  # type: ignore[index]
    second_page = (await feed(api, token, first=5, after=after))["notifications"]
    assert [e["node"]["kind"] for e in second_page["edges"]] == ["TWO_FACTOR_ENABLED"]  # type: ignore[index]
    assert second_page["pageInfo"]["hasNextPage"] is False  # type: ignore[index]
    assert second_page["pageInfo"]["hasPreviousPage"] is True  # type: ignore[index]
    node = second_page["edges"][0]["node"]  # type: ignore[index]
    assert node["level"] == "SUCCESS"
    assert node["account"]["email"] == "alice@example.com"


async def test_messages_are_in_the_accounts_language(api: Api) -> None:
    french = await api.sign_up("fr@example.com")
    english = await api.sign_up("en@example.com", locale="EN")
    for token in (french, english):
        await api.enable_two_factor(token)
    fr_message = (await feed(api, french))["notifications"]["edges"][0]["node"]["message"]  # type: ignore[index]
    en_message = (await feed(api, english))["notifications"]["edges"][0]["node"]["message"]  # type: ignore[index]
    assert fr_message == "La double authentification est activée sur votre compte."
    assert en_message == "Two-factor authentication is now on for your account."


async def test_mark_read_by_ids_then_all(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
    edges = (await feed(api, token))["notifications"]["edges"]  # type: ignore[index]
    newest_id = edges[0]["node"]["id"]

    marked = (await api.data(MARK_READ, {"input": {"ids": [newest_id]}}, token=token))[
        "markNotificationsRead"
    ]
    assert marked == {"unreadNotificationCount": 1, "errors": []}
    unread = (await feed(api, token, unreadOnly=True))["notifications"]
    assert [e["node"]["kind"] for e in unread["edges"]] == ["TWO_FACTOR_ENABLED"]  # type: ignore[index]
    read_at = (await feed(api, token))["notifications"]["edges"][0]["node"]["readAt"]  # type: ignore[index]
    assert read_at is not None

    all_read = (await api.data(MARK_READ, {"input": {}}, token=token))["markNotificationsRead"]
    assert all_read["unreadNotificationCount"] == 0


async def test_mark_read_refuses_ids_that_are_not_notifications(api: Api) -> None:
    token = await api.sign_up()
    marked = (await api.data(MARK_READ, {"input": {"ids": ["garbage"]}}, token=token))[
        "markNotificationsRead"
    ]
    assert error_codes(marked) == ["INVALID_INPUT"]
    assert marked["errors"][0]["field"] == ["input", "ids", "0"]


async def test_another_accounts_notifications_are_out_of_reach(api: Api) -> None:
    alice = await api.sign_up("alice@example.com")
    bob = await api.sign_up("bob@example.com")
    await api.enable_two_factor(alice)
    alice_note = (await feed(api, alice))["notifications"]["edges"][0]["node"]["id"]  # type: ignore[index]

    assert (await api.data(NODE, {"id": alice_note}, token=alice))["node"][
        "kind"
    ] == "TWO_FACTOR_ENABLED"
    assert (await api.data(NODE, {"id": alice_note}, token=bob))["node"] is None
    # Bob marking Alice's notification read changes nothing of Alice's.
    await api.data(MARK_READ, {"input": {"ids": [alice_note]}}, token=bob)
    assert (await feed(api, alice))["unreadNotificationCount"] == 1
    assert (await feed(api, bob))["notifications"]["totalCount"] == 0  # type: ignore[index]
