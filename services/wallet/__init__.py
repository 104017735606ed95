"""The wallet: each user's credit account, event-sourced."""
