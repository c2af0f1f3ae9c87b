"""What a container holds back that a training run needs: shared memory (/dev/shm)."""

from __future__ import annotations

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import rule, warning

SHM_FIX = "add --ipc=host in the docker run command (or --shm-size=16g; shm_size: 16gb in docker compose)"


@rule("container-shm-too-small")
def shared_memory(ctx: Context) -> list[Finding]:
    """A container left with docker's default /dev/shm: DataLoader workers and NCCL run out of it."""
    env, info = ctx.snapshot.env, ctx.matrix.shm
    if env is None or not env.in_container or env.shm_mib is None or info is None:
        return []
    if env.shm_mib > info.docker_default_mib:
        return []
    return [
        warning(
            "container-shm-too-small",
            f"/dev/shm in this container is {env.shm_mib} MiB (docker's default is {info.docker_default_mib} "
            "MiB): DataLoader worker processes and NCCL between GPUs keep their buffers there and fail "
            "('Bus error', 'insufficient shared memory', NCCL 'unhandled system error') once it fills",
            SHM_FIX,
            source=info.source,
        )
    ]
