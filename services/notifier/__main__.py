"""The notifier service: ``python -m services.notifier [serve | rebuild-projections]``."""

from eventing.cli import service_main
from services.notifier.service import NotifierService


async def rebuild(service: NotifierService) -> int:
    await service.recipients.ensure_indexes()
    return await service.recipients.rebuild(service.store)


if __name__ == "__main__":
    service_main(NotifierService, rebuild)
