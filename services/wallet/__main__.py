"""The wallet service: ``python -m services.wallet [serve | rebuild-projections]``."""

from eventing.cli import service_main
from services.wallet.service import WalletService

if __name__ == "__main__":
    service_main(WalletService, WalletService.rebuild_projections)
