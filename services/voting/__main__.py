"""The voting service: ``python -m services.voting [serve | rebuild-projections]``."""

from eventing.cli import service_main
from services.voting.service import VotingService


async def rebuild(service: VotingService) -> int:
    await service.read_models.ensure_indexes()
    return await service.read_models.rebuild()


if __name__ == "__main__":
    service_main(VotingService, rebuild)
