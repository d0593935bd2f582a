"""Claims on a sweep's jobs: which process runs which job, so that two launches of one sweep never run a job twice.

A claim is a tag on the sweep's parent run, `mlm_lab.claim.<digest of the job's overrides>`, naming the process
that took the job (host, pid, since when) and a token its child run carries as `mlm_lab.claim`. Callers read and
take claims under `store.store_lock`, so that look-then-take is one step for every process of a sqlite store.

A claim is stale, and another process may take the job over, once its process is gone (on this host), or once its
child run ended without finishing (FAILED or KILLED). A process that dies on another host without ending its run
leaves a claim that looks live: delete the tag on the parent run to free the job.
"""

import hashlib
import json
import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

log = logging.getLogger(__name__)

PREFIX = "mlm_lab.claim."  # + digest of the job's overrides: a tag on the parent run
TOKEN_TAG = "mlm_lab.claim"  # on a child run: the token of the claim it runs under


@dataclass(frozen=True)
class Claim:
    """Who holds a job: a process on a host, since when, and the token its child run is tagged with."""

    host: str
    pid: int
    token: str
    since: str

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host} (since {self.since})"

    @property
    def mine(self) -> bool:
        return self.host == socket.gethostname() and self.pid == os.getpid()


def tag(key: str) -> str:
    """The parent run's tag that holds the claim on the job with overrides `key`."""
    return PREFIX + hashlib.sha256(key.encode()).hexdigest()[:16]


def new_claim() -> Claim:
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return Claim(socket.gethostname(), os.getpid(), uuid.uuid4().hex, since)


def parse(value: str | None) -> Claim | None:
    try:
        return Claim(**json.loads(value)) if value else None
    except (TypeError, ValueError):
        return None  # not a claim this code wrote: treated as none


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def is_live(client, experiment_id: str, claim: Claim) -> bool:
    """The claim's process may still run its job: its child run (if any) is RUNNING, and its process is alive on this host."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{TOKEN_TAG}` = '{claim.token}'", max_results=1)
    if runs and runs[0].info.status != "RUNNING":
        return False
    return claim.host != socket.gethostname() or process_alive(claim.pid)


def holder(client, parent_run_id: str, key: str) -> Claim | None:
    """The live claim of another process on the job with overrides `key`, or None: the job is free to take."""
    parent = client.get_run(parent_run_id)
    claim = parse(parent.data.tags.get(tag(key)))
    if claim is None or claim.mine:
        return None
    if is_live(client, parent.info.experiment_id, claim):
        return claim
    log.info("taking over the stale claim of %s on %s", claim, key)
    return None


def take(client, parent_run_id: str, key: str) -> Claim:
    """Claim the job with overrides `key` for this process (after `holder` found it free, under the same lock)."""
    claim = new_claim()
    client.set_tag(parent_run_id, tag(key), json.dumps(asdict(claim)))
    return claim


def release(client, parent_run_id: str, key: str, claim: Claim) -> None:
    """Drop the claim on `key` if it is still `claim` (the job's child run is then its record)."""
    if parse(client.get_run(parent_run_id).data.tags.get(tag(key))) == claim:
        client.delete_tag(parent_run_id, tag(key))


def others(client, parent_run_id: str) -> list[Claim]:
    """The live claims other processes hold on the sweep's jobs."""
    parent = client.get_run(parent_run_id)
    claims = [parse(value) for name, value in parent.data.tags.items() if name.startswith(PREFIX)]
    return [c for c in claims if c is not None and not c.mine and is_live(client, parent.info.experiment_id, c)]
