"""Conversations on the chat route, kept in the journal: each message, the model that
answered, the tokens each answer cost.

The question is recorded before it is sent and the answer once it has arrived (whole, or as
much as came before a Ctrl-C or a cut stream: its ``state`` says which), so ``piapi chat
--continue`` goes on from the last exchange, and usage counts every token paid for.
"""

from __future__ import annotations

from piapi_cli.api.records import record

TYPE_CHECKING = False  # typing is a slow import: its names are for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from piapi_cli.core.journal.store import Store

#: how an answer ended: whole, stopped by the user, cut by the server, or never came
COMPLETE, INTERRUPTED, CUT, LOST = "complete", "interrupted", "cut", "lost"


@record(frozen=True)
class Conversation:
    id: int
    world: str
    model: str
    created_at: float
    updated_at: float


def _conversation(row: Any) -> Conversation:
    return Conversation(row["id"], row["world"], row["model"], row["created_at"], row["updated_at"])


def find(journal: Store, conversation_id: int) -> Conversation | None:
    rows = journal.read("SELECT * FROM conversations WHERE id = ?", (conversation_id,), operation="reading a chat")
    return _conversation(rows[0]) if rows else None


def latest(journal: Store, world: str) -> Conversation | None:
    """The conversation of this API that was last spoken in."""
    rows = journal.read(
        "SELECT * FROM conversations WHERE world = ? ORDER BY updated_at DESC, id DESC LIMIT 1",
        (world,),
        operation="reading the last chat",
    )
    return _conversation(rows[0]) if rows else None


def messages(journal: Store, conversation_id: int) -> list[dict[str, str]]:
    """The conversation so far, as the chat route takes it (answers that never came left out)."""
    rows = journal.read(
        "SELECT role, content FROM messages WHERE conversation_id = ? AND state != ? AND content != '' ORDER BY id",
        (conversation_id, LOST),
        operation="reading a chat",
    )
    return [{"role": row["role"], "content": row["content"]} for row in rows]


def ask(
    journal: Store, *, world: str, model: str, conversation_id: int | None, new: list[dict[str, str]]
) -> tuple[int, int]:
    """Record the new messages (a system message, the question) before they are sent, in a
    new conversation unless one is given; returns the conversation's ID and the first new
    message's (to ``withdraw`` them if the question is refused)."""
    now = journal.clock()
    with journal.write("recording a chat message") as db:
        if conversation_id is None:
            cursor = db.execute(
                "INSERT INTO conversations (world, model, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (world, model, now, now),
            )
            conversation_id = int(cursor.lastrowid or 0)
        else:
            db.execute("UPDATE conversations SET model = ?, updated_at = ? WHERE id = ?", (model, now, conversation_id))
        first = 0
        for message in new:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, content, model, at) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, message["role"], journal.scrubbed(message["content"]), model, now),
            )
            first = first or int(cursor.lastrowid or 0)
    return conversation_id, first


def withdraw(journal: Store, conversation_id: int, first_message: int, *, new_conversation: bool) -> None:
    """Forget a question the API refused (nothing was carried out): its messages, and the
    conversation it opened."""
    with journal.write("withdrawing a refused chat message") as db:
        db.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (conversation_id, first_message))
        if new_conversation:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))


def answer(
    journal: Store,
    conversation_id: int,
    *,
    content: str,
    model: str,
    state: str,
    usage: dict[str, int] | None,
) -> None:
    """Record the answer (all of it, or what arrived) and its tokens."""
    usage = usage or {}
    now = journal.clock()
    with journal.write("recording a chat answer") as db:
        db.execute(
            "INSERT INTO messages (conversation_id, role, content, model, state, prompt_tokens, completion_tokens,"
            " total_tokens, at) VALUES (?, 'assistant', ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, journal.scrubbed(content), model, state, usage.get("prompt_tokens"),
             usage.get("completion_tokens"), usage.get("total_tokens"), now),
        )  # fmt: skip
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))


#: what ``usage`` may group chat answers by, as ``Journal.usage`` groups tasks
GROUPS = {
    None: "'all'",
    "model": "m.model",
    "task_type": "m.model || ' chat'",
    "day": "date(m.at, 'unixepoch')",
    "status": "'chat ' || m.state",
    "world": "c.world",
}


def usage(
    journal: Store, *, since: float | None = None, by: str | None = None, world: str | None = None
) -> dict[str, dict[str, int]]:
    """Chat answers and their tokens, per group (the same groups as the tasks' usage)."""
    sql = (
        f"SELECT {GROUPS.get(by, GROUPS[None])} AS grp, COUNT(*) AS answers, COALESCE(SUM(m.total_tokens), 0) AS tokens"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'assistant'"
    )
    args: list[Any] = []
    if since is not None:
        sql += " AND m.at >= ?"
        args.append(since)
    if world is not None:
        sql += " AND c.world = ?"
        args.append(world)
    sql += " GROUP BY grp"
    rows = journal.read(sql, tuple(args), operation="counting chat usage")
    return {str(row["grp"]): {"chats": int(row["answers"]), "tokens": int(row["tokens"])} for row in rows}
