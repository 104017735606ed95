"""The scheduler service: ``python -m services.scheduler``."""

from eventing.cli import service_main
from services.scheduler.service import SchedulerService
from services.scheduler.settings import SchedulerSettings

if __name__ == "__main__":
    service_main(lambda: SchedulerService(SchedulerSettings()))
