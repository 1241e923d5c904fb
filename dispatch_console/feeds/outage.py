"""While the store is unreachable: what the gateway answers for a signed request it keeps in
its durable journal (:mod:`~dispatch_console.feeds.journal`), and which incident an activation
is promised. The gateway (:mod:`~dispatch_console.feeds.server`) journals the request with that
answer and forwards it, as received, when the store is back.
"""

from __future__ import annotations

from dispatch_console.feeds import contract as c
from dispatch_console.feeds.base import Reply, error
from dispatch_console.feeds.keys import OpenKey
from dispatch_console.feeds.routes import HttpRoutes, _slot
from dispatch_console.service.incidents import new_incident_id


class OutageAnswers(HttpRoutes):
    @staticmethod
    def promised_slot(body: bytes) -> str | None:
        """``school_id/exercise`` of a journaled activation (see :meth:`journal_answer`)."""
        try:
            return _slot(c.decode_body(body, c.Activation))
        except c.BodyError:
            return None

    def journal_answer(
        self,
        route: str,
        key: OpenKey,
        target: str,
        body: bytes,
        promised: dict[str, str],
        attempted: str | None = None,
    ) -> tuple[Reply, str | None]:
        """While the store is unreachable: the answer for a signed request that is to be kept
        in the journal, and for an activation the incident id it is promised.

        What can be checked without the store is checked now (the body against the contract,
        times, the key's scope, the school), and a request that fails is refused now, as it
        would be at once; everything else is checked when the journal is forwarded, and its
        answer then is kept in the journal. ``promised``: ``school_id/exercise`` -> incident id
        for activations journaled before (a second alert joins the incident the first opens).
        ``attempted``: the incident this very activation was being opened as when the store
        went away (it may have been committed under that id: the same id is promised).
        """
        if route == "activation":
            checked = self._checked_activation(key, body)
            if isinstance(checked, Reply):
                return checked, None
            msg = checked[0]
            slot = _slot(msg)
            incident_id = promised.get(slot)
            if incident_id is None:
                open_incident = self.active_incident_at(msg.school_id, exercise=msg.exercise)
                if open_incident is not None:
                    incident_id = open_incident.incident_id
                else:
                    incident_id = attempted or new_incident_id(msg.school_id, self.clock())
                promised[slot] = incident_id
            return Reply(202, {"incident_id": incident_id, "journaled": True}), incident_id
        if route == "device_messages":
            messages = self._checked_device_messages(key, target, body)
            if isinstance(messages, Reply):
                return messages, None
            results = [{"id": m.id, "result": "journaled"} for m in messages[0].messages]
            return Reply(202, {"results": results, "journaled": True}), None
        if route == "notified":
            try:
                c.decode_body(body, c.Notified)
            except c.BodyError as bad:
                return self._bad("http", key.key_id, bad, body), None
            state = self._held(target)
            school_id = state.school_id if state is not None and state.opened else None
            for slot, promised_id in promised.items():
                if promised_id == target:
                    school_id = slot.rpartition("/")[0]
            if school_id is None:
                self.reject("http", key.key_id, f"404: no incident {target}", body)
                return error(404, f"no open incident {target}"), None
            if key.kind != "school" or key.scope != school_id:
                self.reject("http", key.key_id, f"403: key not for incident {target}", body)
                return error(403, "this key may not report notifications for this incident"), None
            return Reply(202, {"incident_id": target, "journaled": True}), None
        raise ValueError(f"route {route!r} is not journaled")
